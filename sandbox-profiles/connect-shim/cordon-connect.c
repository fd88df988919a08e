/*
 * cordon-connect: a preload library (LD_PRELOAD) that takes the sandbox's
 * connections to Cordon's egress proxy straight to the proxy's Unix socket.
 *
 * Every program in the sandbox is told HTTP(S)_PROXY=http://127.0.0.1:PORT,
 * and the in-sandbox relay (or, under runc, the proxy itself after the relay
 * handed it its listener) serves that TCP port. A TCP connection over the
 * sandbox's loopback costs a whole TCP stack traversal each way, per packet
 * and per ACK; a Unix socket does not. So when a dynamically linked program
 * calls connect() on a TCP socket for exactly 127.0.0.1:PORT, this library
 * connects a Unix stream socket to CORDON_EGRESS_SOCKET instead and puts it
 * in the caller's descriptor (dup3), keeping its blocking mode and
 * close-on-exec flag. getpeername() and getsockname() on such a descriptor
 * answer as the TCP socket would have (127.0.0.1:PORT), and TCP-level
 * setsockopt() calls (TCP_NODELAY, keep-alive timers) succeed as no-ops.
 *
 * It is an accelerator, never a boundary: the proxy socket is in the sandbox
 * anyway, and the proxy enforces the same policy on every path. Any failure
 * (variables unset, no socket, backlog full, an unusual socket) falls back to
 * the ordinary TCP connect. Static programs, and programs that make their own
 * system calls, never load it and keep the TCP path.
 *
 *   CORDON_EGRESS_PORT    the proxy's loopback port (decimal)
 *   CORDON_EGRESS_SOCKET  absolute path of the Unix socket to use instead
 *
 * Built with -nostdlib so one file works over glibc and musl alike: system
 * calls are made directly, and only getenv, errno and the compiler's memcpy
 * and strlen come from the C library the program already has.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>

/* struct tcp_info begins with the connection's state; 7 is TCP_CLOSE (Linux). */
#define TCP_INFO_OPT 11
#define TCP_STATE_CLOSE 7

#ifndef SO_DOMAIN
#define SO_DOMAIN 39 /* Linux, every architecture; hidden by glibc without _DEFAULT_SOURCE */
#endif

#if defined(__x86_64__)
static long sys(long n, long a, long b, long c, long d, long e) {
  long ret;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8) : "rcx", "r11", "memory");
  return ret;
}
#elif defined(__aarch64__)
static long sys(long n, long a, long b, long c, long d, long e) {
  register long x8 __asm__("x8") = n;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  register long x4 __asm__("x4") = e;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4) : "memory", "cc");
  return x0;
}
#else
#error "cordon-connect supports x86_64 and aarch64"
#endif

#define SYS1(n, a) sys((n), (long)(a), 0, 0, 0, 0)
#define SYS2(n, a, b) sys((n), (long)(a), (long)(b), 0, 0, 0)
#define SYS3(n, a, b, c) sys((n), (long)(a), (long)(b), (long)(c), 0, 0)
#define SYS5(n, a, b, c, d, e) sys((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e))

/* A raw system call's result the way the C library reports it. */
static int result(long r) {
  if (r < 0 && r > -4096) {
    errno = (int)-r;
    return -1;
  }
  return (int)r;
}

static size_t length(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}

/* The configured proxy port, or 0 when unset or not a port number. */
static unsigned proxy_port(void) {
  const char *s = getenv("CORDON_EGRESS_PORT");
  if (!s || !*s) return 0;
  unsigned v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return 0;
    v = v * 10 + (unsigned)(*s - '0');
    if (v > 65535) return 0;
  }
  return v;
}

/* Fills SUN with the configured socket; returns its address length, or 0. */
static socklen_t proxy_socket(struct sockaddr_un *sun) {
  const char *p = getenv("CORDON_EGRESS_SOCKET");
  if (!p || p[0] != '/') return 0;
  size_t n = length(p);
  if (n >= sizeof sun->sun_path) return 0;
  sun->sun_family = AF_UNIX;
  for (size_t i = 0; i <= n; i++) sun->sun_path[i] = p[i];
  return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
}

/* True when ADDR is 127.0.0.1:<proxy port>, the address every proxy setting names. */
static int names_proxy(const struct sockaddr *addr, socklen_t len) {
  if (!addr || len < (socklen_t)sizeof(struct sockaddr_in) || addr->sa_family != AF_INET) return 0;
  const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
  unsigned port = proxy_port();
  return port != 0 && in->sin_addr.s_addr == htonl(INADDR_LOOPBACK) && in->sin_port == htons((uint16_t)port);
}

/* The last component of a socket path (the whole path if it has no slash). */
static const char *last_component(const char *path, size_t n) {
  const char *base = path;
  for (size_t i = 0; i < n; i++) {
    if (path[i] == '/') base = path + i + 1;
  }
  return base;
}

/*
 * True when FD is a Unix socket connected to the configured proxy socket.
 * Compared by the socket file's name, not its whole path: the kernel reports
 * the name the listener was bound under, which under runc is the host's path
 * to the folder mounted into the sandbox (under gVisor, the sandbox's path).
 * Cordon gives that socket a name nothing else uses.
 */
static int is_redirected(int fd) {
  struct sockaddr_un want;
  socklen_t want_len = proxy_socket(&want);
  if (!want_len) return 0;
  struct sockaddr_un peer;
  socklen_t len = sizeof peer;
  if (SYS3(SYS_getpeername, fd, &peer, &len) != 0 || peer.sun_family != AF_UNIX) return 0;
  size_t path_len = len > offsetof(struct sockaddr_un, sun_path) ? len - offsetof(struct sockaddr_un, sun_path) : 0;
  if (path_len == 0 || path_len > sizeof peer.sun_path || peer.sun_path[0] == '\0') return 0;
  if (peer.sun_path[path_len - 1] == '\0') path_len--;
  size_t want_path_len = want_len - offsetof(struct sockaddr_un, sun_path) - 1;
  const char *a = last_component(peer.sun_path, path_len);
  const char *b = last_component(want.sun_path, want_path_len);
  size_t an = (size_t)(peer.sun_path + path_len - a), bn = (size_t)(want.sun_path + want_path_len - b);
  if (an != bn || an == 0) return 0;
  for (size_t i = 0; i < an; i++) {
    if (a[i] != b[i]) return 0;
  }
  return 1;
}

static int sockopt_int(int fd, int level, int name) {
  int v = -1;
  socklen_t len = sizeof v;
  return SYS5(SYS_getsockopt, fd, level, name, &v, &len) == 0 ? v : -1;
}

/*
 * Swaps FD's unconnected TCP socket for a Unix socket connected to the proxy.
 * Returns 0 when done, -1 (FD untouched) when the caller must connect over TCP.
 */
static int redirect(int fd) {
  struct sockaddr_un sun;
  socklen_t sun_len = proxy_socket(&sun);
  if (!sun_len) return -1;
  if (sockopt_int(fd, SOL_SOCKET, SO_DOMAIN) != AF_INET || sockopt_int(fd, SOL_SOCKET, SO_TYPE) != SOCK_STREAM) return -1;
  /* Only a fresh socket: one already connecting or connected over TCP stays so. */
  unsigned char info[8];
  socklen_t info_len = sizeof info;
  if (SYS5(SYS_getsockopt, fd, IPPROTO_TCP, TCP_INFO_OPT, info, &info_len) != 0 || info_len < 1 || info[0] != TCP_STATE_CLOSE) return -1;
  long status = SYS2(SYS_fcntl, fd, F_GETFL);
  long fdflags = SYS2(SYS_fcntl, fd, F_GETFD);
  if (status < 0 || fdflags < 0) return -1;
  long u = SYS3(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (u < 0) return -1;
  /* Non-blocking, so a proxy whose backlog is full means TCP, never a hang. */
  if (SYS3(SYS_connect, u, &sun, sun_len) != 0) goto fail;
  /* Timeouts a program set before connecting still apply to its reads and writes. */
  static const int timeouts[] = {SO_RCVTIMEO, SO_SNDTIMEO};
  for (unsigned i = 0; i < 2; i++) {
    struct timeval tv;
    socklen_t tl = sizeof tv;
    if (SYS5(SYS_getsockopt, fd, SOL_SOCKET, timeouts[i], &tv, &tl) == 0 && (tv.tv_sec || tv.tv_usec)) {
      SYS5(SYS_setsockopt, u, SOL_SOCKET, timeouts[i], &tv, tl);
    }
  }
  if (!(status & O_NONBLOCK) && SYS3(SYS_fcntl, u, F_SETFL, status & ~(long)O_NONBLOCK) != 0) goto fail;
  if (SYS3(SYS_dup3, u, fd, (fdflags & FD_CLOEXEC) ? O_CLOEXEC : 0) != fd) goto fail;
  SYS1(SYS_close, u);
  return 0;
fail:
  SYS1(SYS_close, u);
  return -1;
}

int connect(int fd, const struct sockaddr *addr, socklen_t len) {
  if (names_proxy(addr, len)) {
    if (redirect(fd) == 0) return 0;
    /* Connecting again a descriptor already redirected: it is connected. */
    if (is_redirected(fd)) return result(-EISCONN);
  }
  return result(SYS3(SYS_connect, fd, addr, len));
}

/*
 * getpeername/getsockname (system call NR): the kernel's answer, except that
 * a redirected socket answers as the TCP socket it replaced: 127.0.0.1:PORT as
 * its peer, 127.0.0.1:0 as itself (it is unnamed; as TCP it would have had an
 * ephemeral port, unknown here). Either is copied into the caller's buffer
 * truncated to its size, with the full length returned, as the kernel does.
 */
static int socket_name(long nr, int fd, struct sockaddr *addr, socklen_t *len) {
  if (!addr || !len) return result(SYS3(nr, fd, addr, len));
  struct sockaddr_storage real;
  socklen_t real_len = sizeof real;
  long r = SYS3(nr, fd, &real, &real_len);
  if (r != 0) return result(r);
  struct sockaddr_in as_tcp;
  const char *from = (const char *)&real;
  if (real.ss_family == AF_UNIX && is_redirected(fd)) {
    as_tcp = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    as_tcp.sin_port = nr == SYS_getpeername ? htons((uint16_t)proxy_port()) : 0;
    from = (const char *)&as_tcp;
    real_len = sizeof as_tcp;
  }
  char *to = (char *)addr;
  for (socklen_t i = 0; i < *len && i < real_len; i++) to[i] = from[i];
  *len = real_len;
  return 0;
}

int getpeername(int fd, struct sockaddr *restrict addr, socklen_t *restrict len) {
  return socket_name(SYS_getpeername, fd, addr, len);
}

int getsockname(int fd, struct sockaddr *restrict addr, socklen_t *restrict len) {
  return socket_name(SYS_getsockname, fd, addr, len);
}

int setsockopt(int fd, int level, int name, const void *value, socklen_t len) {
  long r = SYS5(SYS_setsockopt, fd, level, name, value, len);
  /* TCP and IP options mean nothing on the Unix socket that replaced a TCP one. */
  if ((r == -EOPNOTSUPP || r == -ENOPROTOOPT) && (level == IPPROTO_TCP || level == IPPROTO_IP) && is_redirected(fd)) return 0;
  return result(r);
}
