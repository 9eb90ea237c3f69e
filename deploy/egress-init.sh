#!/usr/bin/env bash
# guarded egress-init: lock a pod's network namespace so that only the proxy's UID can open
# connections outward. Every other UID (the agent, root included) may reach only the proxy's
# port on 127.0.0.1 and ::1 and is rejected everywhere else: TCP, UDP and the rest, IPv4 and
# IPv6, DNS included (the proxy resolves names itself).
#
# Run it from an init container with CAP_NET_ADMIN, before the proxy and the agent start. The
# agent container must never get NET_ADMIN, or it could undo this.
#
# Environment:
#   PROXY_UID       UID the proxy runs as (default 1337); must not be 0 and must differ from the agent's
#   PROXY_PORT      the proxy's listening port on loopback (default 3128)
#   IPTABLES_MODE   nft | legacy | system (default system: whatever `iptables` is on this image)
#   EGRESS_CHAIN    name of our chain (default GUARDED_EGRESS)
#
# Idempotent: each family's chain is declared, flushed and rebuilt in one iptables-restore
# transaction (all rules or none), and the jump from OUTPUT is inserted only when missing.
# Exits non-zero if anything could not be applied, so a pod that cannot be enforced never starts.
set -euo pipefail

PROXY_UID="${PROXY_UID:-1337}"
PROXY_PORT="${PROXY_PORT:-3128}"
IPTABLES_MODE="${IPTABLES_MODE:-system}"
CHAIN="${EGRESS_CHAIN:-GUARDED_EGRESS}"

die() { echo "egress-init: error: $*" >&2; exit 2; }
log() { echo "egress-init: $*"; }

[[ "$PROXY_UID" =~ ^[0-9]+$ ]] || die "PROXY_UID must be a numeric UID, got '$PROXY_UID'"
# UID 0 would let every root process in the pod bypass the proxy.
[[ "$PROXY_UID" -ne 0 ]] || die "PROXY_UID must not be 0"
[[ "$PROXY_PORT" =~ ^[0-9]+$ ]] && (( PROXY_PORT >= 1 && PROXY_PORT <= 65535 )) \
  || die "PROXY_PORT must be a port number 1-65535, got '$PROXY_PORT'"
[[ "$CHAIN" =~ ^[A-Za-z0-9_-]{1,28}$ ]] || die "EGRESS_CHAIN must be 1-28 of [A-Za-z0-9_-], got '$CHAIN'"

case "$IPTABLES_MODE" in
  system) suffix="" ;;
  nft) suffix="-nft" ;;
  legacy) suffix="-legacy" ;;
  *) die "IPTABLES_MODE must be nft, legacy or system, got '$IPTABLES_MODE'" ;;
esac

# rules FAMILY: the chain's whole content, in iptables-restore syntax.
rules() {
  local loopback reject_other ndp=""
  if [[ "$1" == 4 ]]; then
    loopback=127.0.0.1/32 reject_other=icmp-port-unreachable
  else
    loopback=::1/128 reject_other=icmp6-port-unreachable
    # IPv6 finds its neighbours with ICMPv6 from the kernel, which has no owner; without these the
    # proxy's own IPv6 traffic stalls once the neighbour cache expires (RFC 4861: hop limit 255).
    for type in router-solicitation neighbour-solicitation neighbour-advertisement; do
      ndp+="-A $CHAIN -p ipv6-icmp -m icmp6 --icmpv6-type $type -m hl --hl-eq 255 -j RETURN"$'\n'
    done
  fi
  cat <<RULES
${ndp}# Replies on flows already admitted (the agent talking to the proxy, inbound connections to a
# listener in the pod) and the kernel's own packets for them (TIME_WAIT ACKs, RSTs) carry no
# usable owner; a NEW flow never matches here.
-A $CHAIN -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN
-A $CHAIN -m owner --uid-owner $PROXY_UID -j RETURN
-A $CHAIN -o lo -d $loopback -p tcp -m tcp --dport $PROXY_PORT -j RETURN
# REJECT, not DROP: clients that ignore HTTP_PROXY fail at once instead of hanging until timeout.
-A $CHAIN -p tcp -j REJECT --reject-with tcp-reset
-A $CHAIN -p udp -j REJECT --reject-with $reject_other
-A $CHAIN -j REJECT --reject-with $reject_other
RULES
}

# apply FAMILY: one atomic transaction per family; --noflush keeps every other chain and table.
apply() {
  local family="$1" cmd restore
  if [[ "$family" == 4 ]]; then cmd="iptables$suffix"; else cmd="ip6tables$suffix"; fi
  restore="${cmd}-restore"
  command -v "$cmd" >/dev/null || die "$cmd not found"
  command -v "$restore" >/dev/null || die "$restore not found"

  local jump=""
  # -C fails when the chain or the jump is missing: either way the jump must be added.
  if ! "$cmd" -w 5 -t filter -C OUTPUT -j "$CHAIN" >/dev/null 2>&1; then
    jump="-I OUTPUT 1 -j $CHAIN"
  fi
  local body
  body="$(printf '*filter\n:%s - [0:0]\n%s\n%s\nCOMMIT\n' "$CHAIN" "$(rules "$family")" "$jump")"
  log "IPv$family ($cmd): applying"
  printf '%s\n' "$body" | sed 's/^/  /'
  if ! printf '%s\n' "$body" | "$restore" -w 5 --noflush; then
    echo "egress-init: error: $restore rejected the IPv$family rules; refusing to start an unenforced pod" >&2
    exit 1
  fi
  # Trust but verify: the jump must now be in place.
  "$cmd" -w 5 -t filter -C OUTPUT -j "$CHAIN" \
    || { echo "egress-init: error: IPv$family jump to $CHAIN missing after apply" >&2; exit 1; }
  if [[ -n "$jump" ]]; then
    log "IPv$family: jump OUTPUT -> $CHAIN inserted"
  else
    log "IPv$family: jump OUTPUT -> $CHAIN already present; chain rebuilt"
  fi
}

log "PROXY_UID=$PROXY_UID PROXY_PORT=$PROXY_PORT IPTABLES_MODE=$IPTABLES_MODE chain=$CHAIN"
apply 4
# A kernel without IPv6 (ipv6.disable=1) has no IPv6 stack to leak through, and no ip6tables to load.
if [[ -e /proc/net/if_inet6 ]]; then
  apply 6
else
  log "IPv6: kernel has no IPv6 stack (/proc/net/if_inet6 absent); nothing to enforce"
fi
log "done: only UID $PROXY_UID may connect out; others reach only 127.0.0.1/::1 port $PROXY_PORT"
