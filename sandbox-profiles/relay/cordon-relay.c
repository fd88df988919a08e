/*
 * cordon-relay: the sandbox side of Cordon's egress channel (issue 3, item 1).
 *
 *   cordon-relay --listen 127.0.0.1:PORT --to /run/cordon/proxy.sock [-- CMD ARGS...]
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
 * Built static (see build.sh) so it runs in images with no libc, and uses
 * only poll/accept/connect/fork/exec so it runs under gVisor.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE (64 * 1024)
#define MAX_CONNS 4096
/* How long a connection may wait for room in the proxy's accept backlog. */
#define CONNECT_RETRY_MS 3000

/* One direction of a relayed connection. The buffer exists only while it
 * holds unsent bytes, so a thousand idle tunnels cost no buffer memory. */
struct pipe_dir {
  char *buf;
  size_t len, off;
  int eof;      /* source said EOF (or failed) */
  int shut;     /* we already shut down the destination's write side */
};

struct conn {
  int client;   /* accepted TCP socket */
  int proxy;    /* Unix socket to the host proxy, -1 until connected */
  int connecting;            /* nonblocking connect in progress */
  long long retry_deadline;  /* >0: backlog was full; retry connect until then */
  struct pipe_dir up;   /* client -> proxy */
  struct pipe_dir down; /* proxy -> client */
};

static struct conn *conns[MAX_CONNS];
static int nconns;
static int sig_pipe[2] = {-1, -1};
static const char *proxy_path;

static void die(const char *what) {
  fprintf(stderr, "cordon-relay: %s: %s\n", what, strerror(errno));
  exit(111);
}

static void usage(void) {
  fprintf(stderr, "usage: cordon-relay --listen 127.0.0.1:PORT --to /path/to/proxy.sock [-- CMD ARGS...]\n");
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
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) die("bind");
  if (listen(fd, 1024) < 0) die("listen");
  return fd;
}

static void free_dir(struct pipe_dir *d) {
  free(d->buf);
  d->buf = NULL;
  d->len = d->off = 0;
}

static void close_conn(int i) {
  struct conn *c = conns[i];
  close(c->client);
  if (c->proxy >= 0) close(c->proxy);
  free_dir(&c->up);
  free_dir(&c->down);
  free(c);
  conns[i] = conns[--nconns];
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
    return 0;
  }
  return -1;
}

static void accept_all(int lfd) {
  for (;;) {
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return; /* EAGAIN, or a transient error: poll again */
    if (nconns >= MAX_CONNS) {
      close(fd);
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
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
    conns[nconns++] = c;
  }
}

/* Moves bytes src -> dst for one direction. After poll says the source is
 * readable, keep reading and writing until one side would block (bounded), so a
 * bulk transfer costs one poll per several buffers, not one per buffer.
 * Returns -1 on a hard error. */
static int pump(int src, int dst, struct pipe_dir *d, short src_rev, short dst_rev) {
  int may_read = (src_rev & (POLLIN | POLLHUP | POLLERR)) != 0;
  int may_write = (dst_rev & (POLLOUT | POLLERR | POLLHUP)) != 0;
  for (int round = 0; round < 16; round++) {
    int progress = 0;
    if (!d->buf && !d->eof && may_read) {
      d->buf = malloc(BUF_SIZE);
      if (!d->buf) return -1;
      ssize_t n = read(src, d->buf, BUF_SIZE);
      if (n > 0) {
        d->len = (size_t)n;
        d->off = 0;
        may_write = 1; /* try writing at once: usually the socket has room */
        progress = 1;
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        d->eof = 1;
        free_dir(d);
      } else {
        free_dir(d);
        may_read = 0;
      }
    }
    if (d->buf && may_write) {
      ssize_t n = send(dst, d->buf + d->off, d->len - d->off, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno != EAGAIN && errno != EINTR) return -1;
        may_write = 0;
      } else {
        d->off += (size_t)n;
        if (d->off == d->len) free_dir(d);
        progress = 1;
      }
    }
    if (!progress) break;
  }
  if (d->eof && !d->buf && !d->shut) {
    shutdown(dst, SHUT_WR); /* pass the half-close on, as a TCP proxy should */
    d->shut = 1;
  }
  return 0;
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
  const char *listen_spec = NULL;
  char **cmd = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) listen_spec = argv[++i];
    else if (strcmp(argv[i], "--to") == 0 && i + 1 < argc) proxy_path = argv[++i];
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

  /* Each relayed connection holds two descriptors: use the whole hard limit. */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }

  /* When we are not PID 1 (docker --init, or a test on the host), become the
   * subreaper anyway, so orphans of CMD are still ours to reap. */
  if (getpid() != 1) prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

  /* Listen before starting CMD, so its first request finds the port open. */
  int lfd = open_listener(listen_spec);
  pid_t child = cmd ? spawn(cmd) : -1;
  int exit_code = 0;

  struct pollfd *pfd = calloc(2 + 2 * MAX_CONNS, sizeof *pfd);
  if (!pfd) die("calloc");
  for (;;) {
    int n = 0;
    pfd[n++] = (struct pollfd){.fd = sig_pipe[0], .events = POLLIN};
    pfd[n++] = (struct pollfd){.fd = lfd, .events = nconns < MAX_CONNS ? POLLIN : 0};
    int timeout = -1;
    for (int i = 0; i < nconns; i++) {
      struct conn *c = conns[i];
      short ce = 0, pe = 0;
      if (c->retry_deadline && c->proxy < 0) {
        timeout = 10;
      } else if (c->connecting) {
        pe = POLLOUT;
      } else {
        if (!c->up.buf && !c->up.eof) ce |= POLLIN;
        if (c->up.buf) pe |= POLLOUT;
        if (!c->down.buf && !c->down.eof) pe |= POLLIN;
        if (c->down.buf) ce |= POLLOUT;
      }
      /* A socket we want nothing from is left out (fd -1 is ignored by poll):
       * otherwise a peer that hung up would report POLLHUP on every call and
       * spin this loop while we wait for the other side to drain. */
      pfd[n++] = (struct pollfd){.fd = ce ? c->client : -1, .events = ce};
      pfd[n++] = (struct pollfd){.fd = pe ? c->proxy : -1, .events = pe};
    }
    int r = poll(pfd, (nfds_t)n, timeout);
    if (r < 0 && errno != EINTR) die("poll");

    if (r > 0 && (pfd[0].revents & POLLIN)) {
      unsigned char sigs[64];
      ssize_t got;
      while ((got = read(sig_pipe[0], sigs, sizeof sigs)) > 0) {
        for (ssize_t k = 0; k < got; k++) {
          int s = sigs[k];
          if (s == SIGCHLD) continue;
          if (child > 0) kill(child, s);
          else if (s == SIGTERM || s == SIGINT) return 0; /* relay-only mode */
        }
      }
      /* Reap everything: as PID 1 we inherit every orphan in the sandbox. */
      int status;
      pid_t pid;
      while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid == child) {
          exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
          return exit_code;
        }
      }
    }

    /* Connection slots: indexes into pfd match conns[] as built above, so
     * walk backwards; close_conn moves the last connection into slot i. */
    for (int i = nconns - 1; i >= 0; i--) {
      struct conn *c = conns[i];
      short crev = pfd[2 + 2 * i].revents, prev = pfd[3 + 2 * i].revents;
      if (c->retry_deadline && c->proxy < 0) {
        if (start_proxy_connect(c) < 0) close_conn(i);
        continue;
      }
      if (c->connecting) {
        if (!prev) continue;
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->proxy, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
          close_conn(i);
          continue;
        }
        c->connecting = 0;
        continue;
      }
      if (pump(c->client, c->proxy, &c->up, crev, prev) < 0 || pump(c->proxy, c->client, &c->down, prev, crev) < 0) {
        close_conn(i);
        continue;
      }
      /* Done when both sides reached EOF and flushed, or one side errored out. */
      if ((c->up.eof && c->down.eof && !c->up.buf && !c->down.buf) || ((crev | prev) & POLLNVAL)) close_conn(i);
      else if (((crev & POLLERR) || (prev & POLLERR))) close_conn(i);
    }
    if (r > 0 && (pfd[1].revents & POLLIN)) accept_all(lfd);
  }
}
