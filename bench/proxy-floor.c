// The floor of a TCP proxy for bench/proxy.ts: one thread, epoll, read into a buffer and write it
// to the other socket, stop reading a side while its bytes wait for the other to drain. No toxics,
// no counters, nothing else: what any proxy, in any language, pays the kernel per byte and request.
//
//   gcc -O2 -o proxy-floor bench/proxy-floor.c && ./proxy-floor LISTEN_PORT UPSTREAM_PORT (both on 127.0.0.1)

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF (256 * 1024)

// One socket of a pair; `pend` holds bytes read from the peer that this socket has not taken yet.
struct end {
  int fd;
  struct end *peer;
  char *pend;
  size_t off, len;
  int rd_closed, wr_closed, dead;
};

static int ep;
static char buf[BUF];

static void watch(struct end *e) {
  // Read while the peer takes everything; write-wait while bytes for us are pending.
  struct epoll_event ev = {.data.ptr = e};
  if (!e->rd_closed && e->peer->len == 0) ev.events |= EPOLLIN;
  if (e->len > 0) ev.events |= EPOLLOUT;
  epoll_ctl(ep, EPOLL_CTL_MOD, e->fd, &ev);
}

// Closed pairs are freed after the batch of events, which may still name them.
static struct end *graveyard[256];
static int buried;

static void drop(struct end *e) {
  struct end *p = e->peer;
  if (e->dead) return;
  e->dead = p->dead = 1;
  close(e->fd);
  close(p->fd);
  free(e->pend);
  free(p->pend);
  graveyard[buried++] = e < p ? e : p;
}

// Write what is pending for `e`; returns -1 on error.
static int flush(struct end *e) {
  while (e->len > 0) {
    ssize_t n = write(e->fd, e->pend + e->off, e->len);
    if (n < 0) return errno == EAGAIN ? 0 : -1;
    e->off += n;
    e->len -= n;
  }
  if (e->peer->rd_closed && !e->wr_closed) shutdown(e->fd, SHUT_WR), e->wr_closed = 1;
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 3) return fprintf(stderr, "usage: %s LISTEN_PORT UPSTREAM_PORT\n", argv[0]), 2;
  struct sockaddr_in la = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1])), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  signal(SIGPIPE, SIG_IGN); // a write to a closed peer fails with EPIPE and drops the pair
  struct sockaddr_in ua = la;
  ua.sin_port = htons(atoi(argv[2]));
  int one = 1, ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(ls, (struct sockaddr *)&la, sizeof la) || listen(ls, 4096)) return perror("listen"), 1;
  ep = epoll_create1(0);
  struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &lev);
  struct epoll_event evs[256];
  for (;;) {
    int k = epoll_wait(ep, evs, 256, -1);
    for (int i = 0; i < k; i++) {
      struct end *e = evs[i].data.ptr;
      if (e == NULL) {
        int c;
        while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          // A blocking connect is instant on loopback and keeps this reference short.
          int u = socket(AF_INET, SOCK_STREAM, 0);
          if (connect(u, (struct sockaddr *)&ua, sizeof ua)) { close(u); close(c); continue; }
          fcntl(u, F_SETFL, O_NONBLOCK);
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          setsockopt(u, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          struct end *pair = calloc(2, sizeof *pair);
          pair[0].fd = c, pair[1].fd = u, pair[0].peer = &pair[1], pair[1].peer = &pair[0];
          for (int j = 0; j < 2; j++) {
            struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &pair[j]};
            epoll_ctl(ep, EPOLL_CTL_ADD, pair[j].fd, &ev);
          }
        }
        continue;
      }
      struct end *p = e->peer;
      if (e->dead) continue;
      if ((evs[i].events & EPOLLERR) || ((evs[i].events & EPOLLHUP) && e->rd_closed)) { drop(e); continue; }
      if (evs[i].events & EPOLLOUT) {
        if (flush(e) < 0) { drop(e); continue; }
        watch(e), watch(p);
      }
      if ((evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !e->rd_closed && p->len == 0) {
        ssize_t n = read(e->fd, buf, BUF);
        if (n < 0 && errno == EAGAIN) continue;
        if (n < 0) { drop(e); continue; }
        if (n == 0) {
          e->rd_closed = 1;
          if (!p->wr_closed) shutdown(p->fd, SHUT_WR), p->wr_closed = 1;
          if (p->rd_closed) { drop(e); continue; }
          watch(e);
          continue;
        }
        ssize_t w = write(p->fd, buf, n);
        if (w < 0 && errno != EAGAIN) { drop(e); continue; }
        if (w < 0) w = 0;
        if (w < n) {
          // The rest waits in a buffer of its own; reading this side stops until it is out.
          p->pend = realloc(p->pend, n - w);
          memcpy(p->pend, buf + w, n - w);
          p->off = 0, p->len = n - w;
          watch(e), watch(p);
        }
      }
    }
    while (buried > 0) free(graveyard[--buried]);
  }
}
