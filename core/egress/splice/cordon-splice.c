/*
 * cordon-splice: the host-side data path of Cordon's CONNECT tunnels (issue 3,
 * benchmark (c)).
 *
 * The egress proxy (Node) decides every tunnel: it parses the CONNECT, checks
 * policy and addresses, dials exactly the checked address, answers 200 and
 * forwards whatever bytes it had already read. Then it hands both sockets to
 * this program over Node's IPC channel, and the bytes move from socket to
 * socket through a pipe with splice(2), never copied into a user-space buffer
 * and never passing through Node's event loop.
 *
 * Started by Node with stdio[3] = 'ipc' (JSON serialization); the channel's
 * descriptor is in NODE_CHANNEL_FD. Wire format, as Node's child_process
 * speaks it: one JSON object per line. A message that carries a descriptor is
 *   {"cmd":"NODE_HANDLE","type":"net.Native","msg":{"tunnel":N,"side":"client"|"upstream"}}
 * with the descriptor attached (SCM_RIGHTS) to the bytes of that line. Node
 * sends the next descriptor only after it reads {"cmd":"NODE_HANDLE_ACK"}.
 * The same payload without a descriptor (Node could not send the socket)
 * means: give up tunnel N.
 *
 * Out, one line per finished tunnel: {"tunnel":N,"up":BYTES,"down":BYTES},
 * `up` being what was written to the upstream side, `down` to the client.
 *
 * Listener handoff (runc sessions): Node may also hand over the connection on
 * which the in-sandbox relay offered its listening TCP socket,
 *   {"cmd":"NODE_HANDLE","type":"net.Native","msg":{"listener":N,"port":P}}
 * (Node cannot receive descriptors on an ordinary socket; this program can).
 * It reads the relay's one byte 'L' and the descriptor riding on it, checks
 * that the descriptor is a listening TCP socket bound to 127.0.0.1:P, and
 * passes it to Node the same way Node passes sockets here:
 *   {"cmd":"NODE_HANDLE","type":"net.Native","msg":{"listener":N,"ok":true}}
 * or, when anything is off, {"listener":N,"ok":false,"reason":"..."} without
 * a descriptor. The sandbox wrote that message, so it is read as hostile:
 * one byte, at most a few descriptors (every one closed unless it is the
 * single valid listener), nothing else trusted.
 *
 * Lifetime: exits when the channel closes (the proxy stopped or died), which
 * closes every tunnel. Killing it closes every tunnel too; the proxy notices
 * the exit and falls back to relaying in Node.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Pipe capacity asked for; bigger pipes mean fewer splice calls per MiB. */
#define PIPE_WANT (1024 * 1024)
/* Send buffer asked for on a Unix-socket destination once a direction carries
 * data (the default ~208 KiB makes the reader and this program take turns
 * far more often). TCP sockets keep the kernel's autotuning. */
#define UNIX_SNDBUF (1024 * 1024)
/* A JSON line from Node longer than this is a protocol error. */
#define MAX_LINE (64 * 1024)
#define MAX_FDS_QUEUED 64
/* After the upstream finished sending, the client has this long to finish too
 * (the Node path gives the same grace), so a peer that never closes cannot
 * hold a tunnel slot forever. */
#define LINGER_MS 10000

/* One direction: bytes read from `from` wait in the pipe until `to` takes them. */
struct dir {
  int from, to;
  int pipe_r, pipe_w; /* created on first data, so idle tunnels hold no pipes */
  size_t in_pipe, cap;
  int eof;            /* `from` said EOF */
  int done;           /* EOF seen and everything delivered; `to` was shut down for writing */
  uint64_t bytes;     /* delivered to `to` */
};

struct tunnel {
  uint64_t id;
  int client, upstream; /* -1 until that side arrives */
  int active;           /* both sides here, registered with epoll */
  int closed;           /* closed in this event batch; freed after it */
  long long linger_deadline;
  struct dir up;        /* client -> upstream */
  struct dir down;      /* upstream -> client */
  struct tunnel *prev, *next;
};

static int ipc_fd = -1;
static int ep = -1;
static struct tunnel *tunnels; /* every tunnel, pending or active */
static struct tunnel *graveyard;
static size_t ntunnels;
static int lingering; /* tunnels with a linger deadline */

static char *in_buf;
static size_t in_len;
static int fd_queue[MAX_FDS_QUEUED];
static size_t fd_head, fd_count;

static char *out_buf;
static size_t out_len, out_cap;
static int out_waiting; /* EPOLLOUT armed on the channel */

/* The relay's offer being read (at most one at a time); its epoll token is
 * &offer, which no tunnel pointer can equal. */
static struct {
  int fd;
  uint64_t id;
  int port;
} offer = {.fd = -1};

static void fatal(const char *what) {
  fprintf(stderr, "cordon-splice: %s: %s\n", what, strerror(errno));
  exit(111);
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0 && !(fl & O_NONBLOCK)) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* ---- the channel to Node -------------------------------------------------- */

static void arm_channel(int want_out) {
  if (want_out == out_waiting) return;
  struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.ptr = NULL};
  if (epoll_ctl(ep, EPOLL_CTL_MOD, ipc_fd, &ev) < 0) fatal("epoll_ctl channel");
  out_waiting = want_out;
}

static void flush_out(void) {
  while (out_len > 0) {
    ssize_t n = send(ipc_fd, out_buf, out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      memmove(out_buf, out_buf + n, out_len - (size_t)n);
      out_len -= (size_t)n;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;
    } else {
      exit(0); /* the proxy is gone: nothing left to serve */
    }
  }
  arm_channel(out_len > 0);
}

/* Queues one line for Node; a proxy that stops reading does not block the tunnels. */
static void send_line(const char *s, size_t n) {
  if (out_len + n > out_cap) {
    size_t cap = out_cap ? out_cap : 4096;
    while (cap < out_len + n) cap *= 2;
    char *b = realloc(out_buf, cap);
    if (!b) fatal("realloc");
    out_buf = b;
    out_cap = cap;
  }
  memcpy(out_buf + out_len, s, n);
  out_len += n;
  flush_out();
}

static void report(const struct tunnel *t) {
  char line[128];
  int n = snprintf(line, sizeof line, "{\"tunnel\":%" PRIu64 ",\"up\":%" PRIu64 ",\"down\":%" PRIu64 "}\n", t->id, t->up.bytes, t->down.bytes);
  send_line(line, (size_t)n);
}

/* ---- tunnels ---------------------------------------------------------------- */

static void close_dir_pipe(struct dir *d) {
  if (d->pipe_r >= 0) close(d->pipe_r);
  if (d->pipe_w >= 0) close(d->pipe_w);
  d->pipe_r = d->pipe_w = -1;
}

/* Ends a tunnel: closes both sockets and its pipes, tells Node the byte counts. */
static void finish(struct tunnel *t) {
  if (t->closed) return;
  t->closed = 1;
  if (t->linger_deadline) lingering--;
  if (t->client >= 0) {
    epoll_ctl(ep, EPOLL_CTL_DEL, t->client, NULL);
    close(t->client);
  }
  if (t->upstream >= 0) {
    epoll_ctl(ep, EPOLL_CTL_DEL, t->upstream, NULL);
    close(t->upstream);
  }
  close_dir_pipe(&t->up);
  close_dir_pipe(&t->down);
  report(t);
  if (t->prev) t->prev->next = t->next;
  else tunnels = t->next;
  if (t->next) t->next->prev = t->prev;
  ntunnels--;
  /* Another event for this tunnel may still wait in the current batch. */
  t->next = graveyard;
  graveyard = t;
}

static struct tunnel *find_tunnel(uint64_t id) {
  for (struct tunnel *t = tunnels; t; t = t->next)
    if (t->id == id) return t;
  return NULL;
}

static struct tunnel *new_tunnel(uint64_t id) {
  struct tunnel *t = calloc(1, sizeof *t);
  if (!t) fatal("calloc");
  t->id = id;
  t->client = t->upstream = -1;
  t->up.pipe_r = t->up.pipe_w = t->down.pipe_r = t->down.pipe_w = -1;
  t->next = tunnels;
  if (tunnels) tunnels->prev = t;
  tunnels = t;
  ntunnels++;
  return t;
}

static int open_pipe(struct dir *d) {
  int p[2];
  if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0) return -1;
  /* Refused above the per-user pipe allowance; the default size still works. */
  fcntl(p[1], F_SETPIPE_SZ, PIPE_WANT);
  int cap = fcntl(p[1], F_GETPIPE_SZ);
  d->cap = cap > 0 ? (size_t)cap : 65536;
  d->pipe_r = p[0];
  d->pipe_w = p[1];
  int domain = 0;
  socklen_t len = sizeof domain;
  if (getsockopt(d->to, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 && domain == AF_UNIX) {
    int want = UNIX_SNDBUF; /* capped by net.core.wmem_max; a refusal keeps the default */
    setsockopt(d->to, SOL_SOCKET, SO_SNDBUF, &want, sizeof want);
  }
  return 0;
}

/*
 * Moves what it can in one direction until nothing more moves right now.
 * Returns -1 when the tunnel must end (a socket failed, or no pipe could be
 * made). Edge-triggered epoll is sound here because every call runs each
 * syscall until it would block.
 */
static int pump(struct dir *d) {
  for (;;) {
    int moved = 0;
    if (!d->eof && d->pipe_w < 0) {
      /* No pipe yet: only make one when there is something to carry. */
      char c;
      ssize_t p = recv(d->from, &c, 1, MSG_PEEK | MSG_DONTWAIT);
      if (p > 0) {
        if (open_pipe(d) < 0) return -1;
      } else if (p == 0) {
        d->eof = 1;
      } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        return -1;
      }
    }
    if (!d->eof && d->pipe_w >= 0 && d->in_pipe < d->cap) {
      ssize_t n = splice(d->from, NULL, d->pipe_w, NULL, d->cap - d->in_pipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        d->in_pipe += (size_t)n;
        moved = 1;
      } else if (n == 0) {
        d->eof = 1;
      } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        return -1;
      }
    }
    if (d->in_pipe > 0) {
      ssize_t n = splice(d->pipe_r, NULL, d->to, NULL, d->in_pipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        d->in_pipe -= (size_t)n;
        d->bytes += (uint64_t)n;
        moved = 1;
      } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        return -1;
      }
    }
    if (d->eof && d->in_pipe == 0 && !d->done) {
      /* Half-close: the peer learns that this direction ended, the other goes on. */
      shutdown(d->to, SHUT_WR);
      d->done = 1;
      close_dir_pipe(d);
    }
    if (!moved) return 0;
  }
}

static void service(struct tunnel *t) {
  if (t->closed || !t->active) return;
  if (pump(&t->up) < 0 || pump(&t->down) < 0) {
    finish(t);
    return;
  }
  if (t->up.done && t->down.done) {
    finish(t);
  } else if (t->down.done && !t->linger_deadline) {
    t->linger_deadline = now_ms() + LINGER_MS;
    lingering++;
  }
}

static void activate(struct tunnel *t) {
  set_nonblock(t->client);
  set_nonblock(t->upstream);
  t->up.from = t->client;
  t->up.to = t->upstream;
  t->down.from = t->upstream;
  t->down.to = t->client;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = t};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, t->client, &ev) < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, t->upstream, &ev) < 0) {
    finish(t);
    return;
  }
  t->active = 1;
  /* Bytes may already be waiting on either side (they arrived during the handoff). */
  service(t);
}

static void expire_lingering(void) {
  long long now = now_ms();
  for (struct tunnel *t = tunnels, *next; t; t = next) {
    next = t->next;
    if (t->linger_deadline && now >= t->linger_deadline) finish(t);
  }
}

/* ---- messages from Node ------------------------------------------------------ */

/* The unsigned number after `key` in `line`, or -1. Node writes compact JSON. */
static long long number_after(const char *line, const char *key) {
  const char *p = strstr(line, key);
  if (!p) return -1;
  p += strlen(key);
  if (*p < '0' || *p > '9') return -1;
  long long v = 0;
  while (*p >= '0' && *p <= '9') {
    v = v * 10 + (*p - '0');
    if (v > (1LL << 53)) return -1;
    p++;
  }
  return v;
}

static void on_side(uint64_t id, int is_client, int fd) {
  struct tunnel *t = find_tunnel(id);
  if (fd < 0) {
    /* Node could not hand this side over: the tunnel cannot run. */
    if (!t) t = new_tunnel(id);
    finish(t);
    return;
  }
  if (!t) t = new_tunnel(id);
  int *slot = is_client ? &t->client : &t->upstream;
  if (*slot >= 0 || t->active) {
    close(fd); /* a side sent twice: keep the first */
    return;
  }
  *slot = fd;
  if (t->client >= 0 && t->upstream >= 0) activate(t);
}

/* ---- listener handoff ------------------------------------------------------ */

static void offer_done(void) {
  if (offer.fd >= 0) {
    epoll_ctl(ep, EPOLL_CTL_DEL, offer.fd, NULL);
    close(offer.fd);
  }
  offer.fd = -1;
}

static void refuse_listener(uint64_t id, const char *reason) {
  char line[256];
  int n = snprintf(line, sizeof line, "{\"listener\":%" PRIu64 ",\"ok\":false,\"reason\":\"%s\"}\n", id, reason);
  send_line(line, (size_t)n);
}

/* Why FD is not the relay's listener (127.0.0.1:PORT, TCP, listening), or NULL. */
static const char *listener_problem(int fd, int port) {
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode)) return "not a socket";
  int v = 0;
  socklen_t len = sizeof v;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) < 0 || v != AF_INET) return "not an IPv4 socket";
  len = sizeof v;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) < 0 || v != SOCK_STREAM) return "not a stream socket";
  len = sizeof v;
  if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &v, &len) < 0 || v != IPPROTO_TCP) return "not TCP";
  len = sizeof v;
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) < 0 || v != 1) return "not listening";
  struct sockaddr_in sa;
  len = sizeof sa;
  memset(&sa, 0, sizeof sa);
  if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0 || sa.sin_family != AF_INET) return "no address";
  if (sa.sin_addr.s_addr != htonl(INADDR_LOOPBACK) || ntohs(sa.sin_port) != port) return "not bound to the relay's address";
  return NULL;
}

/* Passes a checked listener to Node: the line and its descriptor in one sendmsg. */
static int pass_listener(uint64_t id, int fd) {
  flush_out();
  if (out_len > 0) return -1; /* Node is not reading: the descriptor must not ride a later chunk */
  char line[128];
  int n = snprintf(line, sizeof line, "{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Native\",\"msg\":{\"listener\":%" PRIu64 ",\"ok\":true}}\n", id);
  struct iovec iov = {.iov_base = line, .iov_len = (size_t)n};
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
  memcpy(CMSG_DATA(cm), &fd, sizeof(int));
  ssize_t sent;
  do sent = sendmsg(ipc_fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
  while (sent < 0 && errno == EINTR);
  if (sent == n) return 0;
  if (sent > 0) {
    /* Part went out with the descriptor; the rest follows as plain bytes. */
    send_line(line + sent, (size_t)(n - sent));
    return 0;
  }
  return -1;
}

/* Reads the relay's offer once it is there. */
static void read_offer(void) {
  char byte = 0;
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union {
    char buf[CMSG_SPACE(sizeof(int) * 4)];
    struct cmsghdr align;
  } ctl;
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
  ssize_t n;
  do n = recvmsg(offer.fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
  /* A failed recvmsg leaves the control buffer unwritten: there are no
   * descriptors to walk, and walking it would close whatever numbers it held. */
  if (n < 0) mh.msg_controllen = 0;
  int got = -1, count = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < k; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (count++ == 0) got = fd;
      else close(fd);
    }
  }
  uint64_t id = offer.id;
  int port = offer.port;
  offer_done();
  const char *problem = n != 1 ? "the relay sent no offer" : byte != 'L' ? "not an offer" : (mh.msg_flags & MSG_CTRUNC) || count != 1 ? "not exactly one descriptor" : listener_problem(got, port);
  if (!problem && pass_listener(id, got) < 0) problem = "could not pass it to the proxy";
  if (got >= 0) close(got); /* Node holds its own copy now, or none was wanted */
  if (problem) refuse_listener(id, problem);
}

static void on_offer(uint64_t id, int port, int fd) {
  if (fd < 0) {
    refuse_listener(id, "no connection was handed over");
    return;
  }
  if (offer.fd >= 0) {
    close(fd);
    refuse_listener(id, "another offer is being read");
    return;
  }
  set_nonblock(fd);
  offer.fd = fd;
  offer.id = id;
  offer.port = port;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = &offer};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
    offer_done();
    refuse_listener(id, "epoll");
    return;
  }
  read_offer(); /* the byte is most likely here already */
}

static void on_line(char *line) {
  if (strstr(line, "\"cmd\":\"NODE_HANDLE\"")) {
    int fd = -1;
    if (fd_count > 0) {
      fd = fd_queue[fd_head];
      fd_head = (fd_head + 1) % MAX_FDS_QUEUED;
      fd_count--;
    }
    /* Acknowledge first: Node holds the next tunnel's sockets until it reads this. */
    static const char ack[] = "{\"cmd\":\"NODE_HANDLE_ACK\"}\n";
    send_line(ack, sizeof ack - 1);
    long long lid = number_after(line, "\"msg\":{\"listener\":");
    if (lid >= 0) {
      long long port = number_after(line, "\"port\":");
      if (port < 1 || port > 65535) {
        if (fd >= 0) close(fd);
        refuse_listener((uint64_t)lid, "bad port");
        return;
      }
      on_offer((uint64_t)lid, (int)port, fd);
      return;
    }
    long long id = number_after(line, "\"msg\":{\"tunnel\":");
    const char *side = strstr(line, "\"side\":\"");
    if (id < 0 || !side) {
      if (fd >= 0) close(fd);
      return;
    }
    on_side((uint64_t)id, strncmp(side + 8, "client\"", 7) == 0, fd);
    return;
  }
  if (strstr(line, "\"cmd\":\"NODE_")) return; /* other internal traffic */
  long long id = number_after(line, "{\"tunnel\":");
  if (id >= 0) on_side((uint64_t)id, 0, -1);
}

static void read_channel(void) {
  for (;;) {
    char cbuf[CMSG_SPACE(sizeof(int) * 16)];
    if (in_len >= MAX_LINE) {
      fprintf(stderr, "cordon-splice: message from the proxy too long\n");
      exit(112);
    }
    struct iovec iov = {.iov_base = in_buf + in_len, .iov_len = MAX_LINE - in_len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
    ssize_t n = recvmsg(ipc_fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) exit(0); /* channel closed: the proxy stopped or died, and its tunnels end with us */
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      int *fds = (int *)CMSG_DATA(c);
      for (size_t i = 0; i < k; i++) {
        if (fd_count == MAX_FDS_QUEUED) {
          close(fds[i]);
          continue;
        }
        fd_queue[(fd_head + fd_count) % MAX_FDS_QUEUED] = fds[i];
        fd_count++;
      }
    }
    in_len += (size_t)n;
    size_t start = 0;
    for (size_t i = in_len - (size_t)n; i < in_len; i++) {
      if (in_buf[i] != '\n') continue;
      in_buf[i] = '\0';
      on_line(in_buf + start);
      start = i + 1;
    }
    memmove(in_buf, in_buf + start, in_len - start);
    in_len -= start;
  }
}

int main(void) {
  const char *fd_env = getenv("NODE_CHANNEL_FD");
  if (!fd_env || !*fd_env) {
    fprintf(stderr, "cordon-splice: started without NODE_CHANNEL_FD; the egress proxy starts this program\n");
    return 2;
  }
  ipc_fd = atoi(fd_env);
  /* Belt and braces beside the channel EOF: never outlive the proxy. */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  signal(SIGPIPE, SIG_IGN);
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max; /* four descriptors per busy tunnel */
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  set_nonblock(ipc_fd);
  in_buf = malloc(MAX_LINE + 1);
  if (!in_buf) fatal("malloc");
  ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) fatal("epoll_create1");
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, ipc_fd, &ev) < 0) fatal("epoll_ctl");
  if (getppid() == 1) return 0; /* the proxy died before prctl took hold */

  struct epoll_event events[256];
  for (;;) {
    int n = epoll_wait(ep, events, 256, lingering > 0 ? 1000 : -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      fatal("epoll_wait");
    }
    for (int i = 0; i < n; i++) {
      if (events[i].data.ptr == &offer) {
        if (offer.fd >= 0) read_offer();
        continue;
      }
      struct tunnel *t = events[i].data.ptr;
      if (!t) {
        if (events[i].events & EPOLLOUT) flush_out();
        if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) read_channel();
      } else {
        service(t);
      }
    }
    if (lingering > 0) expire_lingering();
    while (graveyard) {
      struct tunnel *t = graveyard;
      graveyard = t->next;
      free(t);
    }
  }
}
