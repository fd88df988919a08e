/*
 * Test fixture for the listener handoff (listener-handoff.test.ts): plays a
 * hostile sandbox that connects to Cordon's handoff socket and offers
 * something other than the relay's listener.
 *
 *   offer-fd HANDOFF_PATH KIND [PORT]
 *
 * KIND: bytes      one byte 'L', no descriptor
 *       unix       'L' + a listening Unix socket
 *       connected  'L' + a connected TCP socket (to 127.0.0.1:PORT)
 *       tcp        'L' + a TCP listener on 127.0.0.1:PORT
 *       two        'L' + two TCP listeners (the first on 127.0.0.1:PORT)
 *       wrongbyte  'X' + a TCP listener on 127.0.0.1:PORT
 * Prints the answer byte the host sent back ("answer: A") or "answer: none"
 * when it closed without one.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int tcp_listener(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 8) < 0) {
    perror("tcp listener");
    exit(1);
  }
  return fd;
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  const char *kind = argv[2];
  int port = argc > 3 ? atoi(argv[3]) : 0;
  int fds[2], nfds = 0;
  char byte = 'L';
  if (strcmp(kind, "unix") == 0) {
    fds[nfds++] = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un su = {.sun_family = AF_UNIX};
    snprintf(su.sun_path, sizeof su.sun_path, "%s.decoy", argv[1]);
    unlink(su.sun_path);
    if (bind(fds[0], (struct sockaddr *)&su, sizeof su) < 0 || listen(fds[0], 8) < 0) return 1;
  } else if (strcmp(kind, "connected") == 0) {
    fds[nfds++] = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fds[0], (struct sockaddr *)&sa, sizeof sa) < 0) return 1;
  } else if (strcmp(kind, "tcp") == 0) {
    fds[nfds++] = tcp_listener(port);
  } else if (strcmp(kind, "two") == 0) {
    fds[nfds++] = tcp_listener(port);
    fds[nfds++] = tcp_listener(0);
  } else if (strcmp(kind, "wrongbyte") == 0) {
    fds[nfds++] = tcp_listener(port);
    byte = 'X';
  } else if (strcmp(kind, "bytes") != 0) {
    return 2;
  }
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un su = {.sun_family = AF_UNIX};
  snprintf(su.sun_path, sizeof su.sun_path, "%s", argv[1]);
  if (connect(s, (struct sockaddr *)&su, sizeof su) < 0) {
    perror("connect");
    return 3;
  }
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union {
    char buf[CMSG_SPACE(sizeof(int) * 2)];
    struct cmsghdr align;
  } ctl;
  memset(&ctl, 0, sizeof ctl);
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
  if (nfds > 0) {
    mh.msg_control = ctl.buf;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
    memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
  }
  if (sendmsg(s, &mh, 0) != 1) return 4;
  char answer;
  ssize_t n = read(s, &answer, 1);
  if (n == 1) printf("answer: %c\n", answer);
  else printf("answer: none\n");
  return 0;
}
