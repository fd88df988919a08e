/*
 * cordon-sentinel: ends a session's sandbox through the engine when the Cordon
 * process that launched it dies without standing it down (issue 13).
 *
 *   cordon-sentinel --engine /var/run/docker.sock --container ID [--grace-ms N]
 *
 * stdin is a pipe from the launcher, which never writes to it but the one byte
 * 'd' ("done: I removed the sandbox myself") before closing it. End-of-file
 * without that byte means the launcher is gone, whatever killed it: after
 * GRACE ms (default 250) the sentinel asks the engine, over its Unix socket,
 * to kill the container (POST /containers/ID/kill, SIGKILL), then exits.
 *
 * Why beside the relay's lifeline: the relay, the sandbox's PID 1, ends the
 * sandbox itself when the launcher dies, and does so first (the grace leaves
 * it the time, and the engine then records its own exit status). But under
 * gVisor (runsc) a same-uid process inside can stop PID 1 with SIGSTOP, which
 * Linux would refuse for a namespace's init; a stopped relay never reads its
 * lifeline. This process runs on the host, where nothing in the sandbox can
 * signal, trace or starve it.
 *
 * Started in a session of its own (the launcher spawns it detached), so a
 * signal to the launcher's process group or a closing terminal does not take
 * it along. It closes every descriptor but 0-2 first: it must never hold
 * anything of the launcher open, the lifeline least of all (Node marks its
 * descriptors close-on-exec; this does not rely on it). Bounded: the engine
 * has 5 s to answer. A container that is already gone (404) or stopped (409)
 * is the expected answer when the relay got there first.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static void usage(void) {
  fprintf(stderr, "usage: cordon-sentinel --engine /path/to/docker.sock --container ID [--grace-ms N]\n");
  exit(2);
}

/* Engine ids are hex; anything else could smuggle text into the request line. */
static int valid_id(const char *id) {
  size_t n = strlen(id);
  if (n == 0 || n > 64) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = id[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return 0;
  }
  return 1;
}

static void close_inherited(void) {
#ifdef SYS_close_range
  if (syscall(SYS_close_range, 3U, ~0U, 0U) == 0) return;
#endif
  long max = sysconf(_SC_OPEN_MAX);
  for (long fd = 3; fd < (max > 0 ? max : 1024); fd++) close((int)fd);
}

/* Returns the engine's HTTP status, or -1 when it could not be asked. */
static int kill_container(const char *engine, const char *id) {
  struct sockaddr_un su;
  memset(&su, 0, sizeof su);
  su.sun_family = AF_UNIX;
  if (strlen(engine) >= sizeof su.sun_path) return -1;
  strncpy(su.sun_path, engine, sizeof su.sun_path - 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct timeval tv = {.tv_sec = 5, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect(fd, (struct sockaddr *)&su, sizeof su) < 0) {
    close(fd);
    return -1;
  }
  char req[256];
  int n = snprintf(req, sizeof req, "POST /containers/%s/kill?signal=KILL HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", id);
  if (n <= 0 || (size_t)n >= sizeof req || send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
    close(fd);
    return -1;
  }
  char resp[64];
  size_t got = 0;
  while (got < sizeof resp - 1) {
    ssize_t r = recv(fd, resp + got, sizeof resp - 1 - got, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
    if (memchr(resp, '\n', got)) break;
  }
  close(fd);
  resp[got] = '\0';
  int status = -1;
  if (sscanf(resp, "HTTP/%*d.%*d %d", &status) != 1) return -1;
  return status;
}

int main(int argc, char **argv) {
  const char *engine = NULL, *id = NULL;
  long grace_ms = 250;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--engine") == 0 && i + 1 < argc) engine = argv[++i];
    else if (strcmp(argv[i], "--container") == 0 && i + 1 < argc) id = argv[++i];
    else if (strcmp(argv[i], "--grace-ms") == 0 && i + 1 < argc) {
      char *end;
      grace_ms = strtol(argv[++i], &end, 10);
      if (*end != '\0' || grace_ms < 0 || grace_ms > 10000) usage();
    } else usage();
  }
  if (!engine || !id || !valid_id(id)) usage();
  close_inherited();
  signal(SIGPIPE, SIG_IGN);

  /* Block until the launcher stands down or dies. */
  char last = 0;
  for (;;) {
    char buf[64];
    ssize_t r = read(STDIN_FILENO, buf, sizeof buf);
    if (r > 0) {
      last = buf[r - 1];
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    break; /* end-of-file, or an error: either way the launcher is no longer there */
  }
  if (last == 'd') return 0;

  struct timespec ts = {.tv_sec = grace_ms / 1000, .tv_nsec = (grace_ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
  }
  int status = kill_container(engine, id);
  if (status == 204 || status == 404 || status == 409) return 0;
  fprintf(stderr, "cordon-sentinel: the engine did not kill container %.12s (status %d)\n", id, status);
  return 1;
}
