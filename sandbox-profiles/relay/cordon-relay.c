/*
 * cordon-relay: the sandbox side of Cordon's egress channel (issue 3, item 1).
 *
 *   cordon-relay --listen 127.0.0.1:PORT --to /run/cordon/proxy.sock
 *                [--splice up|both|off] [--handoff /run/cordon/handoff.sock]
 *                [--lifeline /run/cordon/lifeline.sock] [--home-seed DIR]
 *                [--path-prepend DIR] [-- CMD ARGS...]
 *
 * The sandbox has no network interface but loopback. This program listens on
 * a loopback TCP port inside the sandbox's network namespace and relays every
 * connection, byte for byte, to the host proxy's Unix socket, which is
 * bind-mounted into the sandbox. HTTP_PROXY/HTTPS_PROXY point at the port.
 *
 * It is also the container's init (PID 1): it forks and execs CMD, forwards
 * termination signals to it, reaps every zombie, and exits with CMD's status
 * (128+signal if CMD was killed). Without CMD it only relays, until SIGTERM or
 * SIGINT (sidecar use).
 *
 * Fail closed: if the proxy socket is missing or refuses, the incoming
 * connection is closed; there is no fallback route.
 *
 * Data path (issue 3, benchmark (a) and (c)): one epoll set, level-triggered,
 * each socket registered only while we want something from it, so a wake-up
 * costs work for the ready sockets only, and a short read ends a pass instead
 * of one more read to hear EAGAIN. Client -> proxy bytes move socket -> pipe
 * -> socket with splice(2), so the kernel hands pages on instead of copying
 * them through this process (see splice_up for why only that way). Pipes come
 * from a small pool and are held only while they hold bytes, so idle tunnels
 * cost no descriptors beyond their two sockets. Where splice is refused (an
 * old kernel's ENOSYS, EINVAL for a pair of descriptors it cannot splice) or
 * no pipe can be had, the same loop uses read/send through one shared buffer;
 * a direction that once failed to splice never tries again.
 * CORDON_RELAY_SPLICE=off forces read/send both ways (tests use it).
 *
 * --splice says which directions may splice: `up` (the default, safe under
 * every runtime), `both` (the host passes it under runc, where the kernel is
 * the host's own), `off`.
 *
 * Listener handoff (--handoff PATH, runc only): before starting CMD, the relay
 * sends its listening socket to Cordon over PATH (one byte 'L' carrying the
 * descriptor, SCM_RIGHTS). If Cordon answers 'A' it accepts the sandbox's
 * connections itself and the relay stops accepting and closes its copy: from
 * then on agent connections reach the proxy with no hop through this process,
 * and if the proxy goes away so does the listener (no network: fail closed).
 * Any other answer, or none, and the relay goes on relaying. Until the answer
 * the relay keeps accepting, so no connection waits on the handoff. Under
 * gVisor the sandbox's sockets are not host sockets and cannot be handed on:
 * the host never passes --handoff there.
 *
 * Lifeline (--lifeline PATH, issue 13): the sandbox must not outlive the
 * Cordon process that launched it, however that process died (SIGKILL, OOM
 * kill, a crash): an unattended agent would otherwise keep writing to the
 * workspace until some later Cordon command reaped it. Before starting CMD the
 * relay connects to PATH, a Unix socket the launcher bound before the
 * container existed and stops accepting on once this connection arrives, so
 * the agent can neither connect to it nor hold anything the launcher reads.
 * The launcher never writes to it; its end closes when the launcher's process
 * dies, whatever killed it, and the relay then kills every process it can
 * (as PID 1: the whole sandbox) and exits with EXIT_LIFELINE_LOST, which ends
 * the container. No lifeline at start means no command (exit 111). The
 * lifeline is looked at before any other event of a wake-up, so a flood of
 * connections cannot delay it. A launcher that is only stopped (SIGSTOP, a
 * suspended laptop) keeps its end open: the sandbox lives on.
 *
 * The relay makes itself non-dumpable first thing: the agent runs as the same
 * uid, and a dumpable PID 1 could have its memory written through
 * /proc/1/mem (which no seccomp rule can name) or its descriptors taken, to
 * disarm the lifeline. Under runc, as the namespace's init, it cannot be sent
 * SIGKILL or SIGSTOP from inside, and the signals it handles only reach CMD;
 * the stop signals a terminal sends (SIGTSTP, SIGTTIN, SIGTTOU) it ignores.
 * gVisor does not shield its init from SIGSTOP: there, a stopped relay is
 * covered by the launcher's host-side sentinel (core/sandbox/sentinel/).
 *
 * Built static (see build.sh) so it runs in images with no libc; every call
 * it makes exists under gVisor, and the optional ones (splice, pipe sizes)
 * are allowed to fail.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "home-seed.h"

#define MAX_CONNS 4096
/* How long a connection may wait for room in the proxy's accept backlog. */
#define CONNECT_RETRY_MS 3000
/* The plain path's one buffer, shared: only bytes a destination refused are
 * copied out of it into a per-direction allocation. */
#define SCRATCH_SIZE (256 * 1024)
/* Pipe size asked for; the kernel may grant less (pipe-max-size, per-user
 * pipe quota) and that is fine. Fewer, larger splices per MiB moved. */
#define PIPE_WANT (1024 * 1024)
/* Idle pipes kept for reuse: enough for the transfers that overlap in
 * practice, small enough that the pool never matters to RLIMIT_NOFILE. */
#define PIPE_POOL_MAX 32
/* A read this large means a bulk transfer, where splice pays; below it (TLS
 * records, requests, answers) read/send is cheaper: relay-bench measured
 * about 30 us more relay CPU per new tunnel when small hops were spliced. */
#define BULK_READ (64 * 1024)
/* Rounds of read-then-write per direction per wake-up: a bulk transfer keeps
 * going without a wait, but cannot starve the other connections. */
#define MAX_ROUNDS 16

struct pipe_pair {
  int r, w;
  size_t cap;
};

/* One direction of a relayed connection. Pending bytes sit either in a pipe
 * (splice path) or in `buf` (plain path), never both; both exist only while
 * they hold bytes, so a thousand idle tunnels cost neither memory nor pipes. */
struct dir {
  struct pipe_pair *pipe; /* held while in_pipe > 0 */
  size_t in_pipe;
  char *buf; /* bytes the destination has not taken yet */
  size_t len, off;
  int eof;  /* source said EOF (or failed) */
  int shut; /* we already shut down the destination's write side */
  int bulk; /* a read brought BULK_READ bytes or more: splice from now on */
};

struct conn {
  int client;               /* accepted TCP socket */
  int proxy;                /* Unix socket to the host proxy, -1 until connected */
  int connecting;           /* nonblocking connect in progress */
  long long retry_deadline; /* >0: backlog was full; retry connect until then */
  int slot;                 /* index in conns[] */
  int retrying;             /* counted in nretrying */
  int dead;                 /* closed; freed once the current batch of events is done */
  uint32_t want_client, want_proxy; /* epoll interest registered now (0: not registered) */
  struct dir up;   /* client -> proxy */
  struct dir down; /* proxy -> client */
  struct conn *next_dead;
};

/* epoll tokens: small numbers for our own descriptors, else a conn pointer
 * with the low bit saying which of its two sockets (malloc aligns to 16). */
#define TOKEN_SIGNAL 0
#define TOKEN_LISTEN 1
#define TOKEN_HANDOFF 2
#define TOKEN_LIFELINE 3
/* The relay ended the sandbox because its launcher's lifeline broke. Cordon's
 * reaper reads it back from the engine's record of the container's exit
 * (RELAY_EXIT_LIFELINE_LOST in core/session/session-lifeline.ts). */
#define EXIT_LIFELINE_LOST 112
#define SIDE_PROXY 1u

static struct conn *conns[MAX_CONNS];
static int nconns, nretrying;
static struct conn *graveyard;
static int sig_pipe[2] = {-1, -1};
static const char *proxy_path;
static int ep = -1, lfd = -1;
/* The connection that carried our listener to the host, while we wait for its answer. */
static int handoff_fd = -1;
/* Our end of the launcher's lifeline; -1 without --lifeline. */
static int lifeline_fd = -1;
static pid_t child = -1;
static int listening; /* the listener is in the epoll set */
/* Linux copies TCP_NODELAY from the listener to accepted sockets, saving a
 * call per tunnel; checked on the first one, set one by one where not. */
static int nodelay_inherited, nodelay_checked;
static char scratch[SCRATCH_SIZE];
static struct pipe_pair *pipe_pool[PIPE_POOL_MAX];
static int npool;
/* Whether splice is worth trying per direction: cleared for good the first
 * time the kernel refuses that pair of descriptor types.
 * Down (proxy socket -> pipe -> client) is off unless --splice both: under
 * gVisor (runsc, --host-uds=open) splicing out of the host Unix socket handed
 * on wrong bytes after the first 64 or 256 KiB (relay-runtime-check.sh finds
 * it; session tests with curl-sized bodies did not). Under runc it is sound,
 * and since cordon-splice splices tunnel bytes into the Unix socket (Linux >=
 * 6.5 then queues pages, not copies) it moves them on without a copy: about
 * 45% less relay CPU per GiB downloaded in proxy-bench. Up (client
 * -> pipe -> proxy socket) moves pages without copying on Linux (about a third
 * of the CPU of read/send per GiB) and relay-bench checked every byte of it
 * under runsc. */
static int splice_up = 1, splice_down = 0;

static void die(const char *what) {
  fprintf(stderr, "cordon-relay: %s: %s\n", what, strerror(errno));
  exit(111);
}

static void usage(void) {
  fprintf(stderr, "usage: cordon-relay --listen 127.0.0.1:PORT --to /path/to/proxy.sock [--splice up|both|off] [--handoff /path/to/handoff.sock] [--lifeline /path/to/lifeline.sock] [--home-seed DIR] [--path-prepend DIR] [-- CMD ARGS...]\n");
  exit(2);
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Async-signal-safe: only records the signal number for the main loop. */
static void on_signal(int sig) {
  int saved = errno;
  unsigned char b = (unsigned char)sig;
  ssize_t r = write(sig_pipe[1], &b, 1);
  (void)r; /* a full pipe already holds a pending wake-up */
  errno = saved;
}

static int open_listener(const char *spec) {
  char host[64];
  const char *colon = strrchr(spec, ':');
  if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof host) usage();
  memcpy(host, spec, (size_t)(colon - spec));
  host[colon - spec] = '\0';
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (*end != '\0' || port < 1 || port > 65535) usage();
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((unsigned short)port);
  /* Numeric only: no resolver inside the sandbox, and no NSS in a static binary. */
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) usage();
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  /* Relayed hops go out at once, never held back for Nagle. */
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) die("bind");
  if (listen(fd, 1024) < 0) die("listen");
  return fd;
}

/* ---- pipes --------------------------------------------------------------- */

/* A pipe for one transfer, from the pool or new; NULL when none can be had
 * (descriptor limit, memory), and the caller then uses the plain path. */
static struct pipe_pair *pipe_get(void) {
  if (npool > 0) return pipe_pool[--npool];
  struct pipe_pair *p = malloc(sizeof *p);
  if (!p) return NULL;
  int fds[2];
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) {
    free(p);
    return NULL;
  }
  p->r = fds[0];
  p->w = fds[1];
  int got = fcntl(p->w, F_SETPIPE_SZ, PIPE_WANT);
  if (got < 0) got = fcntl(p->w, F_GETPIPE_SZ);
  p->cap = got > 0 ? (size_t)got : 65536;
  return p;
}

static void pipe_close(struct pipe_pair *p) {
  close(p->r);
  close(p->w);
  free(p);
}

/* Only empty pipes go back to the pool; a pipe still holding bytes of a
 * closed connection is closed, which discards them. */
static void pipe_put(struct pipe_pair *p, size_t in_pipe) {
  if (in_pipe == 0 && npool < PIPE_POOL_MAX) pipe_pool[npool++] = p;
  else pipe_close(p);
}

static void dir_release(struct dir *d) {
  if (d->pipe) pipe_put(d->pipe, d->in_pipe);
  d->pipe = NULL;
  d->in_pipe = 0;
  free(d->buf);
  d->buf = NULL;
  d->len = d->off = 0;
}

static int pending(const struct dir *d) { return d->in_pipe > 0 || d->buf != NULL; }

/* The kernel cannot splice this pair of descriptors (as opposed to a
 * connection error): stop trying for this direction, for every connection. */
static int splice_refused(int err) { return err == EINVAL || err == ENOSYS || err == EOPNOTSUPP || err == ESPIPE || err == EBADF; }

/* ---- connections --------------------------------------------------------- */

static void set_interest(struct conn *c, int proxy_side, uint32_t want) {
  int fd = proxy_side ? c->proxy : c->client;
  uint32_t *have = proxy_side ? &c->want_proxy : &c->want_client;
  if (fd < 0 || want == *have) return;
  struct epoll_event ev = {.events = want, .data.u64 = (uint64_t)(uintptr_t)c | (proxy_side ? SIDE_PROXY : 0)};
  /* A socket we want nothing from leaves the set: epoll always reports HUP,
   * so a peer that hung up would otherwise wake this loop on every call while
   * we wait for the other side to drain. */
  int op = want == 0 ? EPOLL_CTL_DEL : *have == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
  if (epoll_ctl(ep, op, fd, &ev) == 0) *have = want;
  else if (op == EPOLL_CTL_DEL) *have = 0;
}

static void update_interest(struct conn *c) {
  uint32_t wc = 0, wp = 0;
  if (c->connecting) {
    wp = EPOLLOUT;
  } else if (c->proxy >= 0) {
    if (!pending(&c->up) && !c->up.eof) wc |= EPOLLIN;
    if (pending(&c->up)) wp |= EPOLLOUT;
    if (!pending(&c->down) && !c->down.eof) wp |= EPOLLIN;
    if (pending(&c->down)) wc |= EPOLLOUT;
  }
  set_interest(c, 0, wc);
  set_interest(c, 1, wp);
}

static void listener_on(int on) {
  if (on == listening || lfd < 0) return;
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TOKEN_LISTEN};
  if (epoll_ctl(ep, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, lfd, &ev) == 0) listening = on;
}

/* Keeps nretrying (which sets the wait timeout) equal to the number of
 * connections waiting to retry the proxy's full backlog. */
static void note_retrying(struct conn *c) {
  int now = c->retry_deadline && c->proxy < 0 && !c->dead;
  nretrying += now - c->retrying;
  c->retrying = now;
}

static void close_conn(struct conn *c) {
  if (c->dead) return;
  /* close() drops the descriptors from the epoll set. */
  close(c->client);
  if (c->proxy >= 0) close(c->proxy);
  dir_release(&c->up);
  dir_release(&c->down);
  c->dead = 1;
  note_retrying(c);
  conns[c->slot] = conns[--nconns];
  conns[c->slot]->slot = c->slot;
  /* Events for c may still be in this batch: free it after the batch. */
  c->next_dead = graveyard;
  graveyard = c;
  listener_on(1); /* a slot (and descriptors) came free */
}

/* Starts (or retries) the connection to the proxy socket. Returns -1 when the
 * client must be dropped: socket missing or refusing means no network. */
static int start_proxy_connect(struct conn *c) {
  struct sockaddr_un su;
  memset(&su, 0, sizeof su);
  su.sun_family = AF_UNIX;
  strncpy(su.sun_path, proxy_path, sizeof su.sun_path - 1);
  if (c->proxy < 0) {
    c->proxy = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->proxy < 0) return -1;
    c->want_proxy = 0;
  }
  if (connect(c->proxy, (struct sockaddr *)&su, sizeof su) == 0) {
    c->connecting = 0;
    c->retry_deadline = 0;
    return 0;
  }
  if (errno == EINPROGRESS) {
    c->connecting = 1;
    return 0;
  }
  if (errno == EAGAIN) {
    /* Backlog full: the proxy is busy, not gone. Retry shortly, then give up. */
    if (c->retry_deadline == 0) c->retry_deadline = now_ms() + CONNECT_RETRY_MS;
    if (now_ms() > c->retry_deadline) return -1;
    close(c->proxy);
    c->proxy = -1;
    c->want_proxy = 0;
    return 0;
  }
  return -1;
}

/* Fills d from src: into a pipe when splice works, else through the scratch
 * buffer, sending at once and keeping only what dst refused. Returns the bytes
 * taken from src; 0 at EOF (or a read error, which ends this direction like
 * EOF); -1 when src has nothing now; -2 when bytes read cannot be kept (the
 * connection must close). *asked is what a full read would have been. */
static ssize_t fill(int src, int dst, struct dir *d, int *use_splice, size_t *asked) {
  int try_splice = *use_splice && d->bulk;
  if (try_splice && !d->pipe) d->pipe = pipe_get(); /* none to be had: plain path this time */
  if (try_splice && d->pipe) {
    *asked = d->pipe->cap;
    ssize_t n = splice(src, NULL, d->pipe->w, NULL, d->pipe->cap, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) {
      d->in_pipe = (size_t)n;
      return n;
    }
    if (n == 0) return 0;
    if (errno == EAGAIN || errno == EINTR) return -1;
    if (!splice_refused(errno)) return 0;
    *use_splice = 0; /* the pipe is empty here: nothing is stranded */
  }
  if (d->pipe) {
    pipe_put(d->pipe, 0);
    d->pipe = NULL;
  }
  *asked = sizeof scratch;
  ssize_t n = read(src, scratch, sizeof scratch);
  if (n < 0) return errno == EAGAIN || errno == EINTR ? -1 : 0;
  if (n == 0) return 0;
  if (n >= BULK_READ) d->bulk = 1;
  ssize_t sent = send(dst, scratch, (size_t)n, MSG_NOSIGNAL);
  if (sent < 0) sent = 0; /* would block, or failed: the next flush says which */
  if (sent < n) {
    d->buf = malloc((size_t)(n - sent));
    if (!d->buf) return -2;
    memcpy(d->buf, scratch + sent, (size_t)(n - sent));
    d->len = (size_t)(n - sent);
    d->off = 0;
  }
  return n;
}

/* Sends what d holds to dst. Returns 1 when all of it went, 0 when dst is
 * full (wait for EPOLLOUT), -1 when dst failed. */
static int flush(int dst, struct dir *d, int *use_splice) {
  while (d->in_pipe > 0) {
    ssize_t n = splice(d->pipe->r, NULL, dst, NULL, d->in_pipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) {
      d->in_pipe -= (size_t)n;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
    if (n == 0 || !splice_refused(errno)) return -1;
    /* dst takes no splices: move the bytes into a buffer and go on plainly. */
    *use_splice = 0;
    char *b = malloc(d->in_pipe);
    if (!b) return -1;
    size_t got = 0;
    while (got < d->in_pipe) {
      ssize_t r = read(d->pipe->r, b + got, d->in_pipe - got);
      if (r <= 0) {
        free(b);
        return -1;
      }
      got += (size_t)r;
    }
    d->in_pipe = 0;
    d->buf = b;
    d->len = got;
    d->off = 0;
  }
  if (d->pipe) {
    pipe_put(d->pipe, 0);
    d->pipe = NULL;
  }
  while (d->buf) {
    ssize_t n = send(dst, d->buf + d->off, d->len - d->off, MSG_NOSIGNAL);
    if (n < 0) return errno == EAGAIN || errno == EINTR ? 0 : -1;
    d->off += (size_t)n;
    if (d->off == d->len) {
      free(d->buf);
      d->buf = NULL;
      d->len = d->off = 0;
    }
  }
  return 1;
}

/* Moves bytes src -> dst for one direction until src is drained or dst is
 * full (bounded). Level-triggered epoll reports whatever is left. A short
 * read means src is very likely empty: we stop there rather than pay one more
 * call to hear EAGAIN. Returns -1 when the connection must close. */
static int pump(int src, int dst, struct dir *d, const struct dir *other, int *use_splice, int may_read) {
  int other_done = other->eof && other->shut;
  for (int round = 0; round < MAX_ROUNDS; round++) {
    int had_pending = pending(d);
    int f = flush(dst, d, use_splice);
    if (f < 0) return -1;
    /* Room again after a full destination: the source most likely has more
     * (we stopped reading it), so read now rather than after another wait. */
    if (had_pending && f > 0 && round == 0) may_read = 1;
    if (f == 0 || d->eof || !may_read) break;
    size_t asked = 0;
    ssize_t n = fill(src, dst, d, use_splice, &asked);
    if (n == -2) return -1;
    if (n < 0) break;
    if (n == 0) {
      d->eof = 1;
      break;
    }
    if ((size_t)n < asked) may_read = 0; /* flush once more, then wait */
  }
  if (d->eof && !pending(d) && !d->shut) {
    /* Pass the half-close on, as a TCP proxy should; when the other way is
     * finished too, the close that follows says the same. */
    if (!(other_done && !pending(other))) shutdown(dst, SHUT_WR);
    d->shut = 1;
  }
  if (!pending(d) && d->pipe) {
    pipe_put(d->pipe, 0);
    d->pipe = NULL;
  }
  return 0;
}

/* Runs both directions of c after an event on either socket. */
static void service(struct conn *c, int client_ready, int proxy_ready) {
  if (c->dead || c->connecting || c->proxy < 0) return;
  if (pump(c->client, c->proxy, &c->up, &c->down, &splice_up, client_ready) < 0 || pump(c->proxy, c->client, &c->down, &c->up, &splice_down, proxy_ready) < 0) {
    close_conn(c);
    return;
  }
  /* Done when both sides reached EOF and everything was passed on. */
  if (c->up.eof && c->down.eof && !pending(&c->up) && !pending(&c->down)) {
    close_conn(c);
    return;
  }
  update_interest(c);
}

static void accept_all(void) {
  for (;;) {
    if (nconns >= MAX_CONNS) {
      listener_on(0); /* back on when a connection closes */
      return;
    }
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0 && nodelay_checked == 0) {
      int on = 0;
      socklen_t len = sizeof on;
      nodelay_inherited = getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len) == 0 && on;
      nodelay_checked = 1;
    }
    if (fd < 0) {
      /* Out of descriptors: the listener would stay readable and spin this
       * loop. Stop listening until a connection closes and frees some. */
      if ((errno == EMFILE || errno == ENFILE) && nconns > 0) listener_on(0);
      return; /* EAGAIN, or a transient error: wait for the next event */
    }
    if (!nodelay_inherited) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    struct conn *c = calloc(1, sizeof *c);
    if (!c) {
      close(fd);
      continue;
    }
    c->client = fd;
    c->proxy = -1;
    if (start_proxy_connect(c) < 0) {
      close(fd);
      if (c->proxy >= 0) close(c->proxy);
      free(c);
      continue;
    }
    c->slot = nconns;
    conns[nconns++] = c;
    note_retrying(c);
    /* The request may already be here: relay it now rather than after
     * another wait (one read that hears EAGAIN if not). */
    service(c, 1, 0);
    if (!c->dead) update_interest(c);
  }
}

static void connect_done(struct conn *c) {
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(c->proxy, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err) {
    close_conn(c);
    return;
  }
  c->connecting = 0;
  service(c, 1, 0);
}

/* Backlog-full connections: try again, or give up after CONNECT_RETRY_MS. */
static void retry_connects(void) {
  for (int i = nconns - 1; i >= 0; i--) {
    struct conn *c = conns[i];
    if (!c->retrying) continue;
    if (start_proxy_connect(c) < 0) {
      close_conn(c);
      continue;
    }
    note_retrying(c);
    if (!c->retrying) service(c, 1, 0);
    if (!c->dead) update_interest(c);
  }
}

/* ---- listener handoff ------------------------------------------------------ */

/* Offers the listening socket to the host (see the header). Never fatal: on
 * any failure the relay simply keeps the listener and relays. */
static void offer_listener(const char *path) {
  struct sockaddr_un su;
  memset(&su, 0, sizeof su);
  su.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof su.sun_path) return;
  strncpy(su.sun_path, path, sizeof su.sun_path - 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  /* A Unix socket connects at once or not at all (EAGAIN: backlog full). */
  if (connect(fd, (struct sockaddr *)&su, sizeof su) < 0) {
    close(fd);
    return;
  }
  char byte = 'L';
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } ctl;
  memset(&ctl, 0, sizeof ctl);
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
  struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cm), &lfd, sizeof(int));
  if (sendmsg(fd, &mh, MSG_NOSIGNAL) != 1) {
    close(fd);
    return;
  }
  struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u64 = TOKEN_HANDOFF};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
    close(fd);
    return;
  }
  handoff_fd = fd;
}

/* The host answered (or hung up): 'A' means it accepts connections now. */
static void handoff_answer(void) {
  char byte = 0;
  ssize_t n;
  do n = read(handoff_fd, &byte, 1);
  while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
  close(handoff_fd); /* also leaves the epoll set */
  handoff_fd = -1;
  if (n == 1 && byte == 'A') {
    listener_on(0);
    close(lfd);
    lfd = -1;
  }
}

/* ---- lifeline ------------------------------------------------------------ */

/* Connects to the launcher's lifeline socket (see the header). Fatal on any
 * failure: a sandbox that cannot tell when its launcher dies does not run. */
static void hold_lifeline(const char *path) {
  struct sockaddr_un su;
  memset(&su, 0, sizeof su);
  su.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof su.sun_path) {
    fprintf(stderr, "cordon-relay: lifeline socket path too long\n");
    exit(111);
  }
  strncpy(su.sun_path, path, sizeof su.sun_path - 1);
  /* Close-on-exec: CMD never holds it (not that holding it would help: the
   * launcher's end closing is what ends the sandbox). */
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("lifeline socket");
  int r;
  do r = connect(fd, (struct sockaddr *)&su, sizeof su);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    fprintf(stderr, "cordon-relay: cannot reach the launcher's lifeline %s: %s; not starting the command\n", path, strerror(errno));
    exit(111);
  }
  /* connect() returns once the kernel queued us, before the launcher took us
   * and stopped listening; the launcher writes one byte after both. Until it
   * arrives nothing of CMD's exists, so no agent can queue a connection of
   * its own beside ours. End-of-file or an error instead: no command. */
  unsigned char held;
  ssize_t n;
  do n = read(fd, &held, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1) {
    fprintf(stderr, "cordon-relay: the launcher's lifeline %s closed before the launcher confirmed it; not starting the command\n", path);
    exit(111);
  }
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) die("lifeline fcntl");
  struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u64 = TOKEN_LIFELINE};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("lifeline epoll_ctl");
  lifeline_fd = fd;
}

/* The lifeline woke us. The launcher writes nothing after its one
 * confirmation byte, so end-of-file or an error means its process is gone;
 * bytes (never sent today) are drained and ignored. */
static int lifeline_lost(void) {
  char buf[64];
  for (;;) {
    ssize_t n = read(lifeline_fd, buf, sizeof buf);
    if (n > 0) continue;
    if (n < 0 && errno == EINTR) continue;
    return !(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
  }
}

/* Ends the sandbox: kill first, so nothing of CMD's runs on while we exit. As
 * PID 1 the kernel (or gVisor) would kill the rest of the namespace when we
 * exit anyway; kill(-1) is confined to the namespace there. Elsewhere (tests
 * on the host, docker --init) kill(-1) would reach the user's every process,
 * so only CMD is killed. */
static void end_sandbox(void) {
  static const char msg[] = "cordon-relay: the launcher is gone (lifeline closed); ending the sandbox\n";
  ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
  (void)w; /* nobody may be reading any more */
  if (getpid() == 1) kill(-1, SIGKILL);
  else if (child > 0) kill(child, SIGKILL);
  _exit(EXIT_LIFELINE_LOST);
}

/* PATH = DIR:<the image's PATH, or the usual default when it has none>. */
static void prepend_path(const char *dir) {
  const char *old = getenv("PATH");
  if (!old || !*old) old = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  size_t len = strlen(dir) + 1 + strlen(old) + 1;
  char *path = malloc(len);
  if (!path) die("malloc");
  snprintf(path, len, "%s:%s", dir, old);
  if (setenv("PATH", path, 1) != 0) die("setenv");
  free(path);
}

static pid_t spawn(char **argv) {
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    /* The child starts clean: default dispositions (SIG_IGN would survive exec) and no blocked signals. */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
    execvp(argv[0], argv);
    fprintf(stderr, "cordon-relay: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(errno == ENOENT ? 127 : 126);
  }
  return pid;
}

int main(int argc, char **argv) {
  /* Before anything else: see the header (same uid as the agent). */
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  const char *listen_spec = NULL, *splice_spec = NULL, *handoff_path = NULL, *lifeline_path = NULL, *home_seed = NULL, *path_prepend = NULL;
  char **cmd = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) listen_spec = argv[++i];
    else if (strcmp(argv[i], "--to") == 0 && i + 1 < argc) proxy_path = argv[++i];
    else if (strcmp(argv[i], "--splice") == 0 && i + 1 < argc) splice_spec = argv[++i];
    else if (strcmp(argv[i], "--handoff") == 0 && i + 1 < argc) handoff_path = argv[++i];
    else if (strcmp(argv[i], "--lifeline") == 0 && i + 1 < argc) lifeline_path = argv[++i];
    else if (strcmp(argv[i], "--home-seed") == 0 && i + 1 < argc) home_seed = argv[++i];
    else if (strcmp(argv[i], "--path-prepend") == 0 && i + 1 < argc) path_prepend = argv[++i];
    else if (strcmp(argv[i], "--") == 0) {
      if (i + 1 < argc) cmd = &argv[i + 1];
      break;
    } else usage();
  }
  if (!listen_spec || !proxy_path) usage();
  if (strlen(proxy_path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
    fprintf(stderr, "cordon-relay: socket path too long\n");
    return 2;
  }
  if (splice_spec) {
    if (strcmp(splice_spec, "up") == 0) splice_up = 1, splice_down = 0;
    else if (strcmp(splice_spec, "both") == 0) splice_up = splice_down = 1;
    else if (strcmp(splice_spec, "off") == 0) splice_up = splice_down = 0;
    else usage();
  }
  const char *mode = getenv("CORDON_RELAY_SPLICE");
  if (mode && strcmp(mode, "off") == 0) splice_up = splice_down = 0;

  if (pipe2(sig_pipe, O_NONBLOCK | O_CLOEXEC) < 0) die("pipe");
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
  for (size_t k = 0; k < sizeof forwarded / sizeof forwarded[0]; k++) sigaction(forwarded[k], &sa, NULL);
  sigaction(SIGCHLD, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  /* Linux drops these for a namespace's init anyway; gVisor would stop it.
   * CMD gets the default actions back (see spawn). */
  signal(SIGTSTP, SIG_IGN);
  signal(SIGTTIN, SIG_IGN);
  signal(SIGTTOU, SIG_IGN);

  /* Each relayed connection holds two sockets, and up to two pipes while
   * bytes are in flight: use the whole hard limit. */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }

  /* When we are not PID 1 (docker --init, or a test on the host), become the
   * subreaper anyway, so orphans of CMD are still ours to reap. */
  if (getpid() != 1) prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

  ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");
  struct epoll_event sev = {.events = EPOLLIN, .data.u64 = TOKEN_SIGNAL};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, sig_pipe[0], &sev) < 0) die("epoll_ctl");

  /* Listen before starting CMD, so its first request finds the port open. */
  lfd = open_listener(listen_spec);
  listener_on(1);
  if (!listening) die("epoll_ctl");
  /* Before CMD starts, so nothing in the sandbox can offer a listener first. */
  if (handoff_path) offer_listener(handoff_path);
  /* Before CMD starts: the first and only connection the launcher accepts is ours. */
  if (lifeline_path) hold_lifeline(lifeline_path);
  /* The agent's first-run state, in place before the agent looks for it. */
  if (home_seed && cmd) seed_home(home_seed);
  /* Cordon's in-sandbox tools (cordon-request-access …) come first on CMD's PATH. */
  if (path_prepend && cmd) prepend_path(path_prepend);
  child = cmd ? spawn(cmd) : -1;

  struct epoll_event events[256];
  for (;;) {
    int n = epoll_wait(ep, events, (int)(sizeof events / sizeof events[0]), nretrying > 0 ? 10 : -1);
    if (n < 0) {
      if (errno != EINTR) die("epoll_wait");
      n = 0;
    }
    /* The lifeline first, whatever else this wake-up brought. */
    for (int k = 0; k < n; k++) {
      if (events[k].data.u64 == TOKEN_LIFELINE && lifeline_lost()) end_sandbox();
    }
    for (int k = 0; k < n; k++) {
      uint64_t tok = events[k].data.u64;
      uint32_t rev = events[k].events;
      if (tok == TOKEN_SIGNAL) {
        unsigned char sigs[64];
        ssize_t got;
        while ((got = read(sig_pipe[0], sigs, sizeof sigs)) > 0) {
          for (ssize_t j = 0; j < got; j++) {
            int s = sigs[j];
            if (s == SIGCHLD) continue;
            if (child > 0) kill(child, s);
            else if (s == SIGTERM || s == SIGINT) return 0; /* relay-only mode */
          }
        }
        /* Reap everything: as PID 1 we inherit every orphan in the sandbox. */
        int status;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
          if (pid == child) return WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
        }
        continue;
      }
      if (tok == TOKEN_LISTEN) {
        if (lfd >= 0) accept_all();
        continue;
      }
      if (tok == TOKEN_HANDOFF) {
        if (handoff_fd >= 0) handoff_answer();
        continue;
      }
      if (tok == TOKEN_LIFELINE) continue; /* handled above */
      struct conn *c = (struct conn *)(uintptr_t)(tok & ~(uint64_t)SIDE_PROXY);
      int proxy_side = (tok & SIDE_PROXY) != 0;
      if (c->dead) continue;
      if (proxy_side && c->connecting) {
        connect_done(c);
        if (!c->dead) update_interest(c);
        continue;
      }
      /* An error (reset) ends the connection, as before: nothing more can be
       * delivered on that socket. HUP alone is handled by reading EOF. */
      if (rev & EPOLLERR) {
        close_conn(c);
        continue;
      }
      int ready = (rev & (EPOLLIN | EPOLLHUP | EPOLLRDHUP)) != 0;
      service(c, proxy_side ? 0 : ready, proxy_side ? ready : 0);
    }
    if (nretrying > 0) retry_connects();
    while (graveyard) {
      struct conn *c = graveyard;
      graveyard = c->next_dead;
      free(c);
    }
  }
}
