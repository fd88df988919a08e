/*
 * relay-bench: measures cordon-relay alone, on loopback, against a direct
 * connection to the same Unix socket (issue 3, benchmark (a) and (c)).
 *
 *   relay-bench serve SOCKET                 stand-in for the host proxy
 *   relay-bench setup  (--tcp PORT | --unix SOCKET) COUNT
 *   relay-bench rtt    (--tcp PORT | --unix SOCKET) COUNT
 *   relay-bench down   (--tcp PORT | --unix SOCKET) MIB
 *   relay-bench up     (--tcp PORT | --unix SOCKET) MIB
 *   relay-bench compare SOCKET COUNT PORT...
 *
 * "setup" opens COUNT connections one after another and on each does what a
 * CONNECT tunnel carrying TLS does: four small exchanges, then the server
 * closes first; it prints p50/p99 per connection. "rtt" does COUNT small
 * round trips on one connection. "down"/"up" move MIB MiB of a fixed pattern
 * and check every byte (a mismatch exits 1), so a relay that drops, repeats
 * or reorders data fails loudly. Through the relay (--tcp) minus direct
 * (--unix) is the relay's share. "compare" does the "setup" pattern COUNT
 * times on each path in turn (direct, then through each relay port), so
 * background load on a shared machine falls on every path alike, and prints
 * each path's p50/p99 and the p50 of its per-round difference from direct.
 * Not built into the sandbox: bench only.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A prime length, so the pattern never lines up with buffer sizes and a
 * shifted or repeated chunk cannot compare equal by accident. */
#define PAT_LEN 65521
#define CHUNK (256 * 1024)
#define MSG 200 /* bytes per small exchange, about a TLS record */

static unsigned char pat[2 * PAT_LEN];

static void fail(const char *what) {
  fprintf(stderr, "relay-bench: %s: %s\n", what, strerror(errno));
  exit(1);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void read_full(int fd, void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, (char *)buf + got, n - got);
    if (r == 0) {
      errno = EPIPE;
      fail("short read");
    }
    if (r < 0) {
      if (errno == EINTR) continue;
      fail("read");
    }
    got += (size_t)r;
  }
}

static void write_full(int fd, const void *buf, size_t n) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = send(fd, (const char *)buf + done, n - done, MSG_NOSIGNAL);
    if (r < 0) {
      if (errno == EINTR) continue;
      fail("write");
    }
    done += (size_t)r;
  }
}

/* Writes `total` pattern bytes. */
static void send_pattern(int fd, uint64_t total) {
  uint64_t off = 0;
  while (off < total) {
    size_t n = PAT_LEN - (size_t)(off % PAT_LEN);
    if (n > total - off) n = (size_t)(total - off);
    write_full(fd, pat + off % PAT_LEN, n);
    off += n;
  }
}

/* Reads exactly `total` pattern bytes, then expects EOF; exits on any difference. */
static void check_pattern(int fd, uint64_t total) {
  static unsigned char buf[CHUNK];
  uint64_t off = 0;
  for (;;) {
    ssize_t r = read(fd, buf, sizeof buf);
    if (r < 0) {
      if (errno == EINTR) continue;
      fail("read");
    }
    if (r == 0) break;
    if (off + (uint64_t)r > total) {
      fprintf(stderr, "relay-bench: %llu bytes too many\n", (unsigned long long)(off + (uint64_t)r - total));
      exit(1);
    }
    size_t pos = 0;
    while (pos < (size_t)r) {
      /* pat holds the pattern twice, so any slice up to PAT_LEN is contiguous. */
      size_t n = (size_t)r - pos;
      if (n > PAT_LEN) n = PAT_LEN;
      if (memcmp(buf + pos, pat + (off + pos) % PAT_LEN, n) != 0) {
        fprintf(stderr, "relay-bench: data differs near byte %llu\n", (unsigned long long)(off + pos));
        exit(1);
      }
      pos += n;
    }
    off += (uint64_t)r;
  }
  if (off != total) {
    fprintf(stderr, "relay-bench: got %llu of %llu bytes\n", (unsigned long long)off, (unsigned long long)total);
    exit(1);
  }
}

/* One request: a command byte and a 64-bit count, little endian. */
struct req {
  char cmd;
  uint64_t n;
} __attribute__((packed));

static void serve_one(int fd) {
  struct req q;
  read_full(fd, &q, sizeof q);
  char msg[MSG];
  switch (q.cmd) {
    case 'E': /* n small exchanges, then the server closes first, as a TLS server would */
      for (uint64_t i = 0; i < q.n; i++) {
        read_full(fd, msg, MSG);
        write_full(fd, msg, MSG);
      }
      break;
    case 'D':
      send_pattern(fd, q.n);
      break;
    case 'U':
      check_pattern(fd, q.n);
      write_full(fd, "k", 1);
      break;
    default:
      fprintf(stderr, "relay-bench: bad request\n");
      exit(1);
  }
}

static int serve(const char *path) {
  int l = socket(AF_UNIX, SOCK_STREAM, 0);
  if (l < 0) fail("socket");
  struct sockaddr_un su = {.sun_family = AF_UNIX};
  strncpy(su.sun_path, path, sizeof su.sun_path - 1);
  unlink(path);
  if (bind(l, (struct sockaddr *)&su, sizeof su) < 0) fail("bind");
  if (listen(l, 128) < 0) fail("listen");
  signal(SIGCHLD, SIG_IGN); /* children are reaped by the kernel */
  for (;;) {
    int fd = accept(l, NULL, NULL);
    if (fd < 0) {
      if (errno == EINTR) continue;
      fail("accept");
    }
    /* A process per connection, so a slow or broken client never holds up the next. */
    pid_t pid = fork();
    if (pid < 0) fail("fork");
    if (pid == 0) {
      close(l);
      serve_one(fd);
      _exit(0);
    }
    close(fd);
  }
}

static int tcp_port = -1;
static const char *unix_path;

static int dial(void) {
  int fd;
  if (tcp_port > 0) {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) fail("socket");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)tcp_port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) fail("connect");
  } else {
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) fail("socket");
    struct sockaddr_un su = {.sun_family = AF_UNIX};
    strncpy(su.sun_path, unix_path, sizeof su.sun_path - 1);
    if (connect(fd, (struct sockaddr *)&su, sizeof su) < 0) fail("connect");
  }
  return fd;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void print_percentiles(const char *what, double *ms, size_t n) {
  qsort(ms, n, sizeof *ms, cmp_double);
  printf("%s p50 %.3f ms  p99 %.3f ms  (n=%zu)\n", what, ms[n / 2], ms[(n * 99) / 100], n);
}

/* Opens a connection, does `rounds` small exchanges, waits for the server's close. */
static void one_session(int rounds) {
  int fd = dial();
  struct req q = {'E', (uint64_t)rounds};
  char msg[MSG];
  memset(msg, 'x', sizeof msg);
  for (int i = 0; i < rounds; i++) {
    if (i == 0) {
      /* The request header rides with the first message, like CONNECT + ClientHello. */
      char first[sizeof q + MSG];
      memcpy(first, &q, sizeof q);
      memcpy(first + sizeof q, msg, MSG);
      write_full(fd, first, sizeof first);
    } else {
      write_full(fd, msg, MSG);
    }
    read_full(fd, msg, MSG);
  }
  char b;
  if (read(fd, &b, 1) != 0) fail("expected the server to close");
  close(fd);
}

/* Interleaves direct and relayed sessions; see the header. */
static int compare(const char *sock, long n, int nports, char **ports) {
  int paths = nports + 1;
  double *ms = calloc((size_t)(n * paths), sizeof *ms);
  double *diff = calloc((size_t)n, sizeof *diff);
  if (!ms || !diff) fail("calloc");
  for (long i = -50; i < n; i++) {
    for (int p = 0; p < paths; p++) {
      if (p == 0) {
        tcp_port = -1;
        unix_path = sock;
      } else {
        tcp_port = atoi(ports[p - 1]);
      }
      double t0 = now_s();
      one_session(4);
      if (i >= 0) ms[(size_t)p * (size_t)n + (size_t)i] = (now_s() - t0) * 1e3;
    }
  }
  for (int p = 0; p < paths; p++) {
    double *mine = ms + (size_t)p * (size_t)n;
    char label[64];
    snprintf(label, sizeof label, p == 0 ? "direct %s" : "relay :%s", p == 0 ? "unix" : ports[p - 1]);
    if (p > 0) {
      for (long i = 0; i < n; i++) diff[i] = mine[i] - ms[i];
      qsort(diff, (size_t)n, sizeof *diff, cmp_double);
    }
    qsort(mine, (size_t)n, sizeof *mine, cmp_double);
    printf("%-14s setup+4 exchanges+close p50 %.3f ms  p99 %.3f ms", label, mine[n / 2], mine[(n * 99) / 100]);
    if (p > 0) printf("  added p50 %.3f ms (per-round difference from direct)", diff[n / 2]);
    printf("\n");
  }
  return 0;
}

int main(int argc, char **argv) {
  for (size_t i = 0; i < sizeof pat; i++) pat[i] = (unsigned char)(((i % PAT_LEN) * 131 + 17) ^ ((i % PAT_LEN) >> 8));
  signal(SIGPIPE, SIG_IGN);
  if (argc == 3 && strcmp(argv[1], "serve") == 0) return serve(argv[2]);
  if (argc >= 5 && strcmp(argv[1], "compare") == 0) return compare(argv[2], atol(argv[3]), argc - 4, argv + 4);
  if (argc != 5) {
    fprintf(stderr, "usage: relay-bench serve SOCKET | (setup|rtt|down|up) (--tcp PORT|--unix SOCKET) N | compare SOCKET N PORT...\n");
    return 2;
  }
  if (strcmp(argv[2], "--tcp") == 0) tcp_port = atoi(argv[3]);
  else if (strcmp(argv[2], "--unix") == 0) unix_path = argv[3];
  else return 2;
  long n = atol(argv[4]);
  if (n <= 0) return 2;
  const char *mode = argv[1];
  if (strcmp(mode, "setup") == 0 || strcmp(mode, "rtt") == 0) {
    int per_conn = strcmp(mode, "setup") == 0;
    double *ms = calloc((size_t)n, sizeof *ms);
    if (!ms) fail("calloc");
    if (per_conn) {
      for (int i = 0; i < 50; i++) one_session(4); /* warm-up */
      for (long i = 0; i < n; i++) {
        double t0 = now_s();
        one_session(4);
        ms[i] = (now_s() - t0) * 1e3;
      }
      print_percentiles("setup+4 exchanges+close", ms, (size_t)n);
    } else {
      int fd = dial();
      struct req q = {'E', (uint64_t)n + 50};
      write_full(fd, &q, sizeof q);
      char msg[MSG];
      memset(msg, 'y', sizeof msg);
      for (long i = -50; i < n; i++) {
        double t0 = now_s();
        write_full(fd, msg, MSG);
        read_full(fd, msg, MSG);
        if (i >= 0) ms[i] = (now_s() - t0) * 1e3;
      }
      close(fd);
      print_percentiles("round trip", ms, (size_t)n);
    }
    return 0;
  }
  uint64_t bytes = (uint64_t)n * 1024 * 1024;
  int fd = dial();
  double t0 = now_s();
  if (strcmp(mode, "down") == 0) {
    struct req q = {'D', bytes};
    write_full(fd, &q, sizeof q);
    check_pattern(fd, bytes);
  } else if (strcmp(mode, "up") == 0) {
    struct req q = {'U', bytes};
    write_full(fd, &q, sizeof q);
    send_pattern(fd, bytes);
    shutdown(fd, SHUT_WR);
    char k;
    read_full(fd, &k, 1);
    if (k != 'k') return 1;
  } else {
    return 2;
  }
  double secs = now_s() - t0;
  printf("%s %ld MiB in %.3f s: %.1f MiB/s, every byte checked\n", mode, n, secs, (double)n / secs);
  close(fd);
  return 0;
}
