/*
 * Test fixture for the connect shim (connect-shim.test.ts): an ordinary,
 * dynamically linked program that connects a TCP socket to
 * 127.0.0.1:PORT the way clients do, then reports what it sees as
 * `key=value` lines. It knows nothing of the shim; the test runs it with and
 * without LD_PRELOAD.
 *
 *   shim-probe PORT blocking|nonblocking [tcp-first]
 *
 * tcp-first: the first connect is made with CORDON_EGRESS_PORT emptied (as
 * if the shim had fallen back to TCP), the second with it restored.
 *
 * Lines: connect (0 or the errno name), domain (what the socket really is:
 * unix|inet), nonblock, cloexec, peer and local (as getpeername/getsockname
 * answer, with a sockaddr_in-sized buffer), nodelay (setsockopt TCP_NODELAY:
 * 0 or errno), rcvtimeo (seconds read back after setting 7 before connect),
 * again (a second connect: its errno name), domain_after (the descriptor
 * after it), reply (the server's answer to "ping\n").
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static const char *err_name(int e) {
  switch (e) {
    case 0: return "0";
    case EISCONN: return "EISCONN";
    case EINPROGRESS: return "EINPROGRESS";
    case ECONNREFUSED: return "ECONNREFUSED";
    case EALREADY: return "EALREADY";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    default: return strerror(e);
  }
}

static void print_addr(const char *key, const struct sockaddr_in *a, socklen_t len) {
  char ip[INET_ADDRSTRLEN] = "?";
  if (a->sin_family == AF_INET) inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
  printf("%s=%s:%u family=%d len=%u\n", key, a->sin_family == AF_INET ? ip : "not-inet", ntohs(a->sin_port), a->sin_family, (unsigned)len);
}

int main(int argc, char **argv) {
  if (argc != 3 && argc != 4) {
    fprintf(stderr, "usage: shim-probe PORT blocking|nonblocking [tcp-first]\n");
    return 2;
  }
  int nonblocking = strcmp(argv[2], "nonblocking") == 0;
  int tcp_first = argc == 4 && strcmp(argv[3], "tcp-first") == 0;
  const char *port_env = getenv("CORDON_EGRESS_PORT");
  char saved[32] = "";
  if (tcp_first && port_env) {
    snprintf(saved, sizeof saved, "%s", port_env);
    setenv("CORDON_EGRESS_PORT", "", 1);
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
  struct timeval tv = {.tv_sec = 7};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  int r = connect(fd, (struct sockaddr *)&to, sizeof to);
  int e = r == 0 ? 0 : errno;
  if (e == EINPROGRESS) {
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    poll(&p, 1, 5000);
    socklen_t el = sizeof e;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el);
  }
  printf("connect=%s\n", err_name(e));
  if (e != 0) return 1;
  int domain = -1;
  socklen_t dl = sizeof domain;
  getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &dl);
  printf("domain=%s\n", domain == AF_UNIX ? "unix" : domain == AF_INET ? "inet" : "other");
  printf("nonblock=%d\n", (fcntl(fd, F_GETFL) & O_NONBLOCK) ? 1 : 0);
  printf("cloexec=%d\n", (fcntl(fd, F_GETFD) & FD_CLOEXEC) ? 1 : 0);
  struct sockaddr_in a;
  socklen_t al = sizeof a;
  memset(&a, 0, sizeof a);
  if (getpeername(fd, (struct sockaddr *)&a, &al) == 0) print_addr("peer", &a, al);
  else printf("peer=%s\n", err_name(errno));
  al = sizeof a;
  memset(&a, 0, sizeof a);
  if (getsockname(fd, (struct sockaddr *)&a, &al) == 0) print_addr("local", &a, al);
  else printf("local=%s\n", err_name(errno));
  int one = 1;
  printf("nodelay=%s\n", setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0 ? "0" : err_name(errno));
  struct timeval got = {0};
  socklen_t gl = sizeof got;
  getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &got, &gl);
  printf("rcvtimeo=%ld\n", (long)got.tv_sec);
  if (tcp_first) setenv("CORDON_EGRESS_PORT", saved, 1);
  r = connect(fd, (struct sockaddr *)&to, sizeof to);
  printf("again=%s\n", r == 0 ? "0" : err_name(errno));
  dl = sizeof domain;
  getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &dl);
  printf("domain_after=%s\n", domain == AF_UNIX ? "unix" : domain == AF_INET ? "inet" : "other");
  if (nonblocking) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  if (write(fd, "ping\n", 5) != 5) return 1;
  char buf[256];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  if (n < 0) n = 0;
  buf[n] = 0;
  buf[strcspn(buf, "\r\n")] = 0;
  printf("reply=%s\n", buf);
  fflush(stdout);
  return 0;
}
