/*
 * Benchmark origin: one epoll loop serving two loopback listeners, fast enough that the proxy,
 * not the origin, is what `npm run bench` measures.
 *
 *   origin SECONDS
 *
 * Prints {"tcp":PORT,"http":PORT} once both listeners are bound on 127.0.0.1, then serves until
 * SECONDS have passed or stdin closes (the bench holds a pipe open; if the bench dies, we exit).
 *
 * TCP listener: the first byte a client sends picks the behaviour.
 *   'D'  download: write a fixed 64 KiB block over and over until the peer goes away.
 *   'P'  ping: echo bytes up to and including the first '\n', then close (the origin closes
 *        first so TIME_WAIT lands here, not on the load generator's ephemeral ports).
 *   none idle: a client that sends nothing is simply held open.
 * HTTP listener: HTTP/1.1 keep-alive; answers every request head (pipelined or not) with a
 * small fixed 200 response. GET only: request bodies are not expected and not read.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum kind { K_TCP_LISTEN, K_HTTP_LISTEN, K_STDIN, K_NEW, K_DOWNLOAD, K_PING, K_HTTP };

struct conn {
  int fd;
  enum kind kind;
  size_t have;        /* bytes buffered in buf (ping line or partial request head) */
  char buf[4096];
};

static const char HTTP_RESPONSE[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nhello, bench\n";
static char block[65536];
static int ep;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct conn *add(int fd, enum kind kind, unsigned events) {
  struct conn *c = calloc(1, sizeof *c);
  if (!c) { perror("calloc"); exit(1); }
  c->fd = fd;
  c->kind = kind;
  struct epoll_event ev = { .events = events, .data.ptr = c };
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) { perror("epoll_ctl"); exit(1); }
  return c;
}

static void drop(struct conn *c) {
  close(c->fd); /* close removes it from the epoll set */
  free(c);
}

static void set_events(struct conn *c, unsigned events) {
  struct epoll_event ev = { .events = events, .data.ptr = c };
  epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static int listen_on_loopback(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 4096) < 0) { perror("listen"); exit(1); }
  return fd;
}

static int port_of(int fd) {
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &len);
  return ntohs(a.sin_port);
}

static void accept_all(struct conn *l) {
  for (;;) {
    int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK);
    if (fd < 0) return; /* EAGAIN, or a transient error: try again on the next event */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    add(fd, l->kind == K_HTTP_LISTEN ? K_HTTP : K_NEW, EPOLLIN | EPOLLRDHUP);
  }
}

/* Download: keep the socket buffer full; stop when the peer resets or closes. */
static void pump(struct conn *c) {
  for (;;) {
    ssize_t n = send(c->fd, block, sizeof block, MSG_NOSIGNAL);
    if (n > 0) continue;
    if (n < 0 && errno == EAGAIN) return;
    drop(c);
    return;
  }
}

/* Ping: buffer up to the first '\n', echo it, close. */
static void ping(struct conn *c) {
  ssize_t n = recv(c->fd, c->buf + c->have, sizeof c->buf - c->have, 0);
  if (n < 0 && errno == EAGAIN) return;
  if (n <= 0) { drop(c); return; }
  c->have += (size_t)n;
  char *nl = memchr(c->buf, '\n', c->have);
  if (!nl && c->have < sizeof c->buf) return;
  size_t len = nl ? (size_t)(nl - c->buf) + 1 : c->have;
  send(c->fd, c->buf, len, MSG_NOSIGNAL); /* a few dozen bytes: always fits the socket buffer */
  drop(c);
}

/* First byte of a TCP connection decides what it is; the rest is handled as that kind. */
static void classify(struct conn *c) {
  char first;
  ssize_t n = recv(c->fd, &first, 1, 0);
  if (n < 0 && errno == EAGAIN) return;
  if (n <= 0) { drop(c); return; }
  if (first == 'D') {
    c->kind = K_DOWNLOAD;
    set_events(c, EPOLLOUT | EPOLLRDHUP);
    pump(c);
  } else if (first == 'P') {
    c->kind = K_PING;
    ping(c);
  } else {
    drop(c);
  }
}

/* Count complete request heads in the buffer, answer each, keep any partial head. */
static void http(struct conn *c) {
  ssize_t n = recv(c->fd, c->buf + c->have, sizeof c->buf - c->have, 0);
  if (n < 0 && errno == EAGAIN) return;
  if (n <= 0) { drop(c); return; }
  c->have += (size_t)n;
  size_t start = 0;
  char *end;
  while ((end = memmem(c->buf + start, c->have - start, "\r\n\r\n", 4)) != NULL) {
    if (send(c->fd, HTTP_RESPONSE, sizeof HTTP_RESPONSE - 1, MSG_NOSIGNAL) < 0) { drop(c); return; }
    start = (size_t)(end - c->buf) + 4;
  }
  if (start == 0 && c->have == sizeof c->buf) { drop(c); return; } /* a head larger than 4 KiB */
  memmove(c->buf, c->buf + start, c->have - start);
  c->have -= start;
}

static void dispatch(struct conn *c, unsigned events) {
  switch (c->kind) {
    case K_TCP_LISTEN: case K_HTTP_LISTEN: accept_all(c); break;
    case K_STDIN: exit(0);
    case K_NEW: classify(c); break;
    case K_DOWNLOAD: if (events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) drop(c); else pump(c); break;
    case K_PING: ping(c); break;
    case K_HTTP: http(c); break;
  }
}

int main(int argc, char **argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 0;
  if (seconds <= 0) { fprintf(stderr, "usage: origin SECONDS\n"); return 2; }
  memset(block, 'x', sizeof block);
  ep = epoll_create1(0);
  int tcp = listen_on_loopback(), web = listen_on_loopback();
  add(tcp, K_TCP_LISTEN, EPOLLIN);
  add(web, K_HTTP_LISTEN, EPOLLIN);
  add(0, K_STDIN, EPOLLIN | EPOLLRDHUP);
  printf("{\"tcp\":%d,\"http\":%d}\n", port_of(tcp), port_of(web));
  fflush(stdout);
  double deadline = now_s() + seconds;
  struct epoll_event evs[256];
  while (now_s() < deadline) {
    int n = epoll_wait(ep, evs, 256, 200);
    for (int i = 0; i < n; i++) dispatch(evs[i].data.ptr, evs[i].events);
  }
  return 0;
}
