/*
 * Benchmark load generator: one epoll loop, non-blocking sockets, loopback only. Written in C so
 * that it drives a direct connection many times faster than any proxy under test.
 *
 *   loadgen -m MODE -t ORIGIN_PORT [-p PROXY_PORT] [-n NAME] [-s SECONDS] [-w WARMUP] [-c CONNS]
 *
 * -p 0 (the default) talks to 127.0.0.1:ORIGIN_PORT directly; otherwise every connection goes to
 * 127.0.0.1:PROXY_PORT and names the origin as NAME:ORIGIN_PORT, so the proxy's name path (policy,
 * resolve, address check) is what gets measured. Modes (see origin.c for the origin's side):
 *   tunnel   CONNECT (or connect), send 'D', count bytes received  -> MB/s (10^6 bytes)
 *   connect  CONNS loops of: connect, CONNECT, ping echo, wait for close -> tunnels/s, p50, p99
 *   http     CONNS keep-alive connections of GET requests (absolute-form via a proxy) -> req/s
 *   idle     open CONNS tunnels, print, hold them until stdin closes or SECONDS pass
 * Only events after WARMUP seconds count. The result is one JSON line on stdout.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum mode { M_TUNNEL, M_CONNECT, M_HTTP, M_IDLE };
enum state { S_CONNECTING, S_PROXY_REPLY, S_ACTIVE, S_DRAIN };

struct conn {
  int fd;
  enum state state;
  double started;      /* when connect() was called, for connect-mode latency */
  double echoed;       /* when the echo came back; the origin's close should follow at once */
  char out[512];       /* pending request bytes */
  size_t out_len, out_off;
  char in[8192];       /* response head / echo being assembled */
  size_t in_len;
};

static struct {
  enum mode mode;
  int proxy_port, origin_port, conns;
  const char *name;
  double seconds, warmup;
} opt = { M_TUNNEL, 0, 0, 32, "origin.bench.test", 5, 1 };

static struct {
  double measure_from, deadline;
  uint64_t bytes, done, errors, reconnects, open;
  double *lat; size_t lat_len, lat_cap;
  char first_error[96];
} st;

static int ep;
static char scratch[262144];
static const char PING[] = "Pping from the guarded bench\n";

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int counting(void) { return now_s() >= st.measure_from; }

/* Keeps the first error; it may quote a proxy's raw bytes, so it is made safe for a JSON string. */
static void note_error(const char *what) {
  st.errors++;
  if (st.first_error[0]) return;
  snprintf(st.first_error, sizeof st.first_error, "%s", what);
  for (char *p = st.first_error; *p; p++)
    if (*p < 0x20 || *p == '"' || *p == '\\' || *p == 0x7f) *p = '?';
}

static void record_latency(double seconds) {
  if (st.lat_len == st.lat_cap) {
    st.lat_cap = st.lat_cap ? st.lat_cap * 2 : 65536;
    st.lat = realloc(st.lat, st.lat_cap * sizeof *st.lat);
    if (!st.lat) { perror("realloc"); exit(1); }
  }
  st.lat[st.lat_len++] = seconds;
}

static void watch(struct conn *c, int op, unsigned events) {
  struct epoll_event ev = { .events = events, .data.ptr = c };
  epoll_ctl(ep, op, c->fd, &ev);
}

static void queue(struct conn *c, const char *data, size_t len) {
  memcpy(c->out + c->out_len, data, len);
  c->out_len += len;
}

/* The first bytes a connection sends once the TCP handshake is done. */
static void queue_opening(struct conn *c) {
  char line[300];
  int len;
  if (opt.mode == M_HTTP && opt.proxy_port)
    len = snprintf(line, sizeof line, "GET http://%s:%d/ HTTP/1.1\r\nHost: %s:%d\r\n\r\n",
                   opt.name, opt.origin_port, opt.name, opt.origin_port);
  else if (opt.mode == M_HTTP)
    len = snprintf(line, sizeof line, "GET / HTTP/1.1\r\nHost: %s:%d\r\n\r\n", opt.name, opt.origin_port);
  else if (opt.proxy_port)
    len = snprintf(line, sizeof line, "CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n\r\n",
                   opt.name, opt.origin_port, opt.name, opt.origin_port);
  else
    len = 0;
  queue(c, line, (size_t)len);
}

static void start(struct conn *c) {
  memset(c, 0, sizeof *c);
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in a = { .sin_family = AF_INET };
  a.sin_port = htons((uint16_t)(opt.proxy_port ? opt.proxy_port : opt.origin_port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  c->started = now_s();
  c->state = S_CONNECTING;
  if (connect(c->fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) note_error("connect");
  watch(c, EPOLL_CTL_ADD, EPOLLOUT | EPOLLIN | EPOLLRDHUP);
}

static void restart(struct conn *c) {
  close(c->fd);
  start(c);
}

/* Push pending output; returns 0 when all sent, 1 when the socket is full, -1 on error. */
static int flush(struct conn *c) {
  while (c->out_off < c->out_len) {
    ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
    if (n < 0 && errno == EAGAIN) return 1;
    if (n <= 0) return -1;
    c->out_off += (size_t)n;
  }
  c->out_len = c->out_off = 0;
  return 0;
}

/* The tunnel is up: what each mode does first. */
static void on_tunnel(struct conn *c) {
  c->state = S_ACTIVE;
  if (opt.mode == M_TUNNEL) queue(c, "D", 1);
  if (opt.mode == M_CONNECT) queue(c, PING, sizeof PING - 1);
  if (opt.mode == M_IDLE) st.open++;
  if (flush(c) < 0) note_error("send");
}

/* Reads a proxy's reply to CONNECT; any bytes after the head are tunnel data (none expected). */
static int read_proxy_reply(struct conn *c) {
  ssize_t n = recv(c->fd, c->in + c->in_len, sizeof c->in - c->in_len - 1, 0);
  if (n < 0 && errno == EAGAIN) return 0;
  if (n <= 0) { note_error("proxy closed before replying"); return -1; }
  c->in_len += (size_t)n;
  c->in[c->in_len] = 0;
  if (!strstr(c->in, "\r\n\r\n")) return 0;
  if (strncmp(c->in, "HTTP/1.1 200", 12) != 0 && strncmp(c->in, "HTTP/1.0 200", 12) != 0) {
    char what[64];
    snprintf(what, sizeof what, "proxy replied %.12s", c->in);
    note_error(what);
    return -1;
  }
  c->in_len = 0;
  on_tunnel(c);
  return 0;
}

static void on_tunnel_data(struct conn *c) {
  for (;;) {
    ssize_t n = recv(c->fd, scratch, sizeof scratch, 0);
    if (n > 0) { if (counting()) st.bytes += (uint64_t)n; continue; }
    if (n < 0 && errno == EAGAIN) return;
    note_error("download ended early");
    watch(c, EPOLL_CTL_DEL, 0);
    return;
  }
}

/* Connect mode: wait for the echoed line, then for the origin's close, then go again. */
static void on_ping_data(struct conn *c) {
  ssize_t n = recv(c->fd, c->in + c->in_len, sizeof c->in - c->in_len, 0);
  if (n < 0 && errno == EAGAIN) return;
  if (n > 0 && c->state == S_ACTIVE) {
    c->in_len += (size_t)n;
    if (c->in_len < sizeof PING - 2) return;
    double t = now_s();
    if (t >= st.measure_from) { st.done++; record_latency(t - c->started); }
    c->state = S_DRAIN;
    c->echoed = t;
    return;
  }
  if (n > 0) return; /* nothing more is expected while draining */
  if (c->state != S_DRAIN) note_error(n == 0 ? "tunnel closed before echo" : "recv");
  restart(c);
}

/* Content-Length of a response head, or -1. Chunked bodies are not expected from a 13-byte body. */
static long content_length(const char *head) {
  for (const char *p = strchr(head, '\n'); p; p = strchr(p + 1, '\n'))
    if (strncasecmp(p + 1, "content-length:", 15) == 0) return strtol(p + 16, NULL, 10);
  return -1;
}

/* HTTP mode: consume complete responses, send the next request on the same connection. */
static void on_http_data(struct conn *c) {
  ssize_t n = recv(c->fd, c->in + c->in_len, sizeof c->in - c->in_len - 1, 0);
  if (n < 0 && errno == EAGAIN) return;
  if (n <= 0) { st.reconnects++; restart(c); return; }
  c->in_len += (size_t)n;
  c->in[c->in_len] = 0;
  char *end = strstr(c->in, "\r\n\r\n");
  if (!end) return;
  long body = content_length(c->in);
  size_t total = (size_t)(end - c->in) + 4 + (size_t)(body < 0 ? 0 : body);
  if (c->in_len < total) return;
  if (strncmp(c->in + 9, "200", 3) != 0 || body < 0) {
    char what[64];
    snprintf(what, sizeof what, "http reply %.12s%s", c->in, body < 0 ? " without length" : "");
    note_error(what);
    restart(c);
    return;
  }
  if (counting()) st.done++;
  int closing = strcasestr(c->in, "\r\nconnection: close") != NULL;
  memmove(c->in, c->in + total, c->in_len - total);
  c->in_len -= total;
  if (closing) { st.reconnects++; restart(c); return; }
  queue_opening(c);
  if (flush(c) < 0) { note_error("send"); restart(c); }
}

static void on_connected(struct conn *c) {
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err) { note_error(strerror(err)); if (opt.mode != M_TUNNEL) restart(c); return; }
  watch(c, EPOLL_CTL_MOD, EPOLLIN | EPOLLRDHUP);
  queue_opening(c);
  if (flush(c) < 0) { note_error("send"); return; }
  if (opt.proxy_port && opt.mode != M_HTTP) c->state = S_PROXY_REPLY;
  else on_tunnel(c);
}

static void on_event(struct conn *c, unsigned events) {
  if (c->state == S_CONNECTING) { if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_connected(c); return; }
  if (c->out_len && flush(c) < 0) { note_error("send"); restart(c); return; }
  if (c->state == S_PROXY_REPLY) {
    if (read_proxy_reply(c) < 0 && opt.mode != M_TUNNEL) restart(c);
    return;
  }
  switch (opt.mode) {
    case M_TUNNEL: on_tunnel_data(c); break;
    case M_CONNECT: on_ping_data(c); break;
    case M_HTTP: on_http_data(c); break;
    case M_IDLE: if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) { note_error("idle tunnel closed"); st.open--; watch(c, EPOLL_CTL_DEL, 0); } break;
  }
}

/* The origin closes right after echoing; a tunnel still open a second later is a proxy bug. */
#define CLOSE_GRACE_S 1.0

static void reap_stuck_tunnels(struct conn *conns) {
  double t = now_s();
  for (int i = 0; i < opt.conns; i++)
    if (conns[i].state == S_DRAIN && t - conns[i].echoed > CLOSE_GRACE_S) {
      note_error("tunnel stayed open after the origin closed");
      restart(&conns[i]);
    }
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double percentile_us(double p) {
  if (!st.lat_len) return 0;
  qsort(st.lat, st.lat_len, sizeof *st.lat, cmp_double);
  size_t i = (size_t)(p * (double)(st.lat_len - 1) + 0.5);
  return st.lat[i] * 1e6;
}

static void print_result(void) {
  static const char *names[] = { "tunnel", "connect", "http", "idle" };
  printf("{\"mode\":\"%s\",\"via\":\"%s\",\"seconds\":%.3f,\"errors\":%llu,\"first_error\":\"%s\"",
         names[opt.mode], opt.proxy_port ? "proxy" : "direct", opt.seconds,
         (unsigned long long)st.errors, st.first_error);
  if (opt.mode == M_TUNNEL) printf(",\"bytes\":%llu,\"mb_per_s\":%.1f", (unsigned long long)st.bytes, (double)st.bytes / 1e6 / opt.seconds);
  if (opt.mode == M_CONNECT)
    printf(",\"count\":%llu,\"per_s\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f", (unsigned long long)st.done,
           (double)st.done / opt.seconds, percentile_us(0.50), percentile_us(0.99));
  if (opt.mode == M_HTTP)
    printf(",\"count\":%llu,\"per_s\":%.1f,\"reconnects\":%llu", (unsigned long long)st.done,
           (double)st.done / opt.seconds, (unsigned long long)st.reconnects);
  if (opt.mode == M_IDLE) printf(",\"open\":%llu", (unsigned long long)st.open);
  printf("}\n");
  fflush(stdout);
}

static void parse_args(int argc, char **argv) {
  int ch;
  while ((ch = getopt(argc, argv, "m:p:t:n:s:w:c:")) != -1) {
    if (ch == 'm') opt.mode = !strcmp(optarg, "connect") ? M_CONNECT : !strcmp(optarg, "http") ? M_HTTP
                            : !strcmp(optarg, "idle") ? M_IDLE : M_TUNNEL;
    else if (ch == 'p') opt.proxy_port = atoi(optarg);
    else if (ch == 't') opt.origin_port = atoi(optarg);
    else if (ch == 'n') opt.name = optarg;
    else if (ch == 's') opt.seconds = atof(optarg);
    else if (ch == 'w') opt.warmup = atof(optarg);
    else if (ch == 'c') opt.conns = atoi(optarg);
    else exit(2);
  }
  if (!opt.origin_port || opt.seconds <= 0 || opt.conns < 1 || strlen(opt.name) > 200) {
    fprintf(stderr, "usage: loadgen -m tunnel|connect|http|idle -t ORIGIN_PORT [-p PROXY_PORT] [-n NAME] [-s S] [-w S] [-c N]\n");
    exit(2);
  }
  if (opt.mode == M_TUNNEL) opt.conns = 1; /* one tunnel's throughput is the figure */
}

/* Idle mode opens at most this many at once so no listen backlog overflows and skews the count. */
#define IDLE_IN_FLIGHT 64

int main(int argc, char **argv) {
  parse_args(argc, argv);
  ep = epoll_create1(0);
  struct conn *conns = calloc((size_t)opt.conns, sizeof *conns);
  if (!conns) { perror("calloc"); return 1; }
  double t0 = now_s();
  st.measure_from = t0 + (opt.mode == M_IDLE ? 0 : opt.warmup);
  st.deadline = st.measure_from + opt.seconds;
  int started = 0, printed = 0;
  struct epoll_event stdin_ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = NULL };
  if (opt.mode == M_IDLE) epoll_ctl(ep, EPOLL_CTL_ADD, 0, &stdin_ev);
  struct epoll_event evs[512];
  while (now_s() < st.deadline) {
    while (started < opt.conns && (opt.mode != M_IDLE || started - (int)st.open - (int)st.errors < IDLE_IN_FLIGHT))
      start(&conns[started++]);
    if (opt.mode == M_IDLE && !printed && (int)(st.open + st.errors) >= opt.conns) { print_result(); printed = 1; }
    int n = epoll_wait(ep, evs, 512, 50);
    for (int i = 0; i < n; i++) {
      if (!evs[i].data.ptr) { if (!printed) print_result(); return 0; } /* stdin closed: the bench is done */
      on_event(evs[i].data.ptr, evs[i].events);
    }
    if (opt.mode == M_CONNECT) reap_stuck_tunnels(conns);
    if (st.errors > 1000 && st.done == 0 && st.bytes == 0 && st.open == 0) break; /* nothing works: stop early */
  }
  if (!printed) print_result();
  return 0;
}
