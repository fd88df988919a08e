/*
 * cordon-vminit: PID 1 of a Cordon microVM guest (issue 21; threats in
 * docs/threat-model-microvm.md). Static, runs from the initramfs.
 *
 *   1. mounts /proc, /sys, /dev; loads the virtio modules listed in
 *      /modules/order (the cloud kernel has them as modules);
 *   2. reads the session (/cordon/session, written by the host: user, working
 *      folder, terminal, mounts, argv, environment) and deletes it;
 *   3. builds the root: the agent image's file system (/dev/vda, read-only)
 *      under a tmpfs overlay; /tmp, the home, /run as tmpfs; Cordon's files
 *      (relay, tools, home seed) copied from /cordon/files into /run;
 *   4. mounts each workspace (virtiofs tag wsN) and then the protection bind
 *      mounts, read-only, before any agent process exists;
 *   5. serves /run/cordon/egress/{proxy,lifeline}.sock inside the guest and
 *      carries each connection as a stream over the virtio-serial port
 *      "cordon.channel" to the host, which connects it to the session's own
 *      socket of the same name (and nothing else);
 *   6. runs argv (the relay, then the command) as the non-root user with
 *      no_new_privs, its stdio carried over the same port; when it exits,
 *      kills what is left, sends the exit status, waits for the host's
 *      goodbye, syncs and reboots (QEMU runs with -no-reboot, so it exits).
 *
 * Channel frames (both ways): type u8, stream u32 BE, length u32 BE, payload.
 * The host side and the frame types are in core/sandbox/microvm/vm-channel.ts.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <net/if.h>
#include <time.h>
#include <unistd.h>

enum {
  F_OPEN = 1, F_DATA = 2, F_EOF = 3, F_CLOSE = 4, F_CREDIT = 5,
  F_STDOUT = 6, F_STDERR = 7, F_EXIT = 8, F_STDIN = 9, F_STDIN_EOF = 10,
  F_RESIZE = 11, F_BYE = 12,
};
#define WINDOW (256 * 1024)
#define MAX_FRAME (64 * 1024)
#define MAX_STREAMS 256
#define NEWROOT "/newroot"

static void say(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n >= sizeof buf) n = sizeof buf - 1;
  int fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) fd = 2;
  if (write(fd, "cordon-vminit: ", 15) < 0 || write(fd, buf, (size_t)n) < 0 || write(fd, "\n", 1) < 0) { /* nothing to do */ }
  if (fd != 2) close(fd);
}

static void halt_now(void) {
  sync();
  reboot(RB_AUTOBOOT);
  for (;;) pause();
}

static void die(const char *what) {
  say("%s: %s", what, strerror(errno));
  halt_now();
}

/* ---- the session file: NUL-separated fields ---- */
static char *sess;
static size_t sess_len, sess_pos;

static const char *field(void) {
  if (sess_pos >= sess_len) { errno = EINVAL; die("session file is truncated"); }
  const char *f = sess + sess_pos;
  size_t n = strnlen(f, sess_len - sess_pos);
  if (sess_pos + n >= sess_len) { errno = EINVAL; die("session file is not NUL-terminated"); }
  sess_pos += n + 1;
  return f;
}

static long num(void) {
  const char *f = field();
  char *end;
  errno = 0;
  long v = strtol(f, &end, 10);
  if (errno || *end || end == f) { errno = EINVAL; die("session file has a bad number"); }
  return v;
}

/* ---- file-system helpers ---- */
static void mkdirs(const char *path, mode_t mode) {
  char tmp[4096];
  if (strlen(path) >= sizeof tmp) { errno = ENAMETOOLONG; die(path); }
  strcpy(tmp, path);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(tmp, mode) < 0 && errno != EEXIST) die(tmp);
    *p = '/';
  }
  if (mkdir(tmp, mode) < 0 && errno != EEXIST) die(tmp);
}

static void mnt(const char *src, const char *dst, const char *type, unsigned long flags, const char *data) {
  if (mount(src, dst, type, flags, data) < 0) {
    say("mount %s on %s (%s)", src ? src : "-", dst, type ? type : "bind");
    die("mount");
  }
}

/* Copies a tree from the initramfs into the new root (regular files, folders, symlinks; modes kept, owner root). */
static void copy_tree(const char *from, const char *to) {
  struct stat st;
  if (lstat(from, &st) < 0) die(from);
  if (S_ISDIR(st.st_mode)) {
    if (mkdir(to, st.st_mode & 07777) < 0 && errno != EEXIST) die(to);
    chmod(to, st.st_mode & 0777);
    DIR *d = opendir(from);
    if (!d) die(from);
    struct dirent *e;
    while ((e = readdir(d))) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
      char a[4096], b[4096];
      if (snprintf(a, sizeof a, "%s/%s", from, e->d_name) >= (int)sizeof a || snprintf(b, sizeof b, "%s/%s", to, e->d_name) >= (int)sizeof b) { errno = ENAMETOOLONG; die(from); }
      copy_tree(a, b);
    }
    closedir(d);
  } else if (S_ISLNK(st.st_mode)) {
    char target[4096];
    ssize_t n = readlink(from, target, sizeof target - 1);
    if (n < 0) die(from);
    target[n] = 0;
    if (symlink(target, to) < 0) die(to);
  } else if (S_ISREG(st.st_mode)) {
    int in = open(from, O_RDONLY | O_CLOEXEC);
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, st.st_mode & 0777);
    if (in < 0 || out < 0) die(to);
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0) {
      if (write(out, buf, (size_t)n) != n) die(to);
    }
    fchmod(out, st.st_mode & 0777);
    close(in);
    close(out);
  }
}

static void load_modules(void) {
  FILE *f = fopen("/modules/order", "re");
  if (!f) die("/modules/order");
  char name[256];
  while (fgets(name, sizeof name, f)) {
    name[strcspn(name, "\n")] = 0;
    if (!name[0]) continue;
    char path[512];
    snprintf(path, sizeof path, "/modules/%s.ko", name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) die(path);
    if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST) die(path);
    close(fd);
  }
  fclose(f);
}

static void wait_for(const char *path) {
  for (int i = 0; i < 1000; i++) {
    if (access(path, F_OK) == 0) return;
    usleep(10000);
  }
  errno = ENOENT;
  die(path);
}

/* ---- the channel ---- */
static int port = -1;

static void put_frame(uint8_t type, uint32_t id, const void *data, uint32_t len) {
  uint8_t h[9] = {type, (uint8_t)(id >> 24), (uint8_t)(id >> 16), (uint8_t)(id >> 8), (uint8_t)id,
                  (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len};
  struct { const uint8_t *p; size_t n; } parts[2] = {{h, 9}, {data, len}};
  for (int i = 0; i < 2; i++) {
    const uint8_t *p = parts[i].p;
    size_t n = parts[i].n;
    while (n > 0) {
      ssize_t w = write(port, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) die("write to the host channel");
      p += w;
      n -= (size_t)w;
    }
  }
}

static void put_u32(uint8_t type, uint32_t id, uint32_t v) {
  uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
  put_frame(type, id, b, 4);
}

struct stream {
  uint32_t id;
  int fd;
  uint32_t credit;       /* bytes we may still send to the host */
  char *out;             /* bytes from the host waiting for fd */
  size_t out_len;
  int host_eof, local_eof, shut;
};
static struct stream streams[MAX_STREAMS];
static uint32_t next_id = 1;

static struct stream *find(uint32_t id) {
  for (int i = 0; i < MAX_STREAMS; i++) if (streams[i].fd >= 0 && streams[i].id == id) return &streams[i];
  return NULL;
}

static void drop(struct stream *s, int tell) {
  if (tell) put_frame(F_CLOSE, s->id, NULL, 0);
  close(s->fd);
  free(s->out);
  memset(s, 0, sizeof *s);
  s->fd = -1;
}

static int listen_unix(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  if (fd < 0 || strlen(path) >= sizeof a.sun_path) die(path);
  strcpy(a.sun_path, path);
  unlink(path);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 64) < 0) die(path);
  /* The agent (another uid) connects; it cannot replace the socket: the folder is root's and 0755. */
  chmod(path, 0666);
  return fd;
}

static int open_port(void) {
  for (int tries = 0; tries < 500; tries++) {
    DIR *d = opendir("/sys/class/virtio-ports");
    if (d) {
      struct dirent *e;
      while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[512], name[64] = {0};
        snprintf(p, sizeof p, "/sys/class/virtio-ports/%s/name", e->d_name);
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        ssize_t n = read(fd, name, sizeof name - 1);
        close(fd);
        if (n > 0 && !strncmp(name, "cordon.channel", 14)) {
          snprintf(p, sizeof p, "/dev/%s", e->d_name);
          closedir(d);
          wait_for(p);
          int pfd = open(p, O_RDWR | O_CLOEXEC);
          if (pfd < 0) die(p);
          return pfd;
        }
      }
      closedir(d);
    }
    usleep(10000);
  }
  errno = ENOENT;
  die("the virtio-serial port cordon.channel");
  return -1;
}

/* Reads exactly N bytes from the port (blocking). */
static void read_port(void *buf, size_t n) {
  uint8_t *p = buf;
  while (n > 0) {
    ssize_t r = read(port, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      /* The host went away: nothing of this session may go on. */
      say("the host channel closed");
      kill(-1, SIGKILL);
      halt_now();
    }
    p += r;
    n -= (size_t)r;
  }
}

int main(void) {
  if (getpid() != 1) {
    fprintf(stderr, "cordon-vminit runs only as a guest's init\n");
    return 2;
  }
  mkdir("/proc", 0755); mkdir("/sys", 0755); mkdir("/dev", 0755);
  mnt("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  mnt("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  mnt("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
  load_modules();

  /* The session, then gone: it holds the environment (the phantom key). */
  int sfd = open("/cordon/session", O_RDONLY | O_CLOEXEC);
  struct stat sst;
  if (sfd < 0 || fstat(sfd, &sst) < 0) die("/cordon/session");
  sess_len = (size_t)sst.st_size;
  sess = malloc(sess_len + 1);
  if (!sess || read(sfd, sess, sess_len) != (ssize_t)sess_len) die("/cordon/session");
  close(sfd);
  unlink("/cordon/session");
  if (strcmp(field(), "cordon-vm-session-1") != 0) { errno = EINVAL; die("session file version"); }
  uid_t uid = (uid_t)num();
  gid_t gid = (gid_t)num();
  if (uid == 0 || gid == 0) { errno = EPERM; die("the agent may not be root"); }
  const char *workdir = field();
  const char *home = field();
  int tty = (int)num();
  int rows = (int)num(), cols = (int)num();
  long tmpfs_mib = num();

  /* Root: the image read-only, writes to a tmpfs overlay. */
  wait_for("/dev/vda");
  mkdirs("/lower", 0755); mkdirs("/rw", 0755); mkdirs(NEWROOT, 0755);
  mnt("/dev/vda", "/lower", "ext4", MS_RDONLY | MS_NODEV, "noload");
  char opt[256];
  snprintf(opt, sizeof opt, "size=%ldm,mode=0755", tmpfs_mib);
  mnt("tmpfs", "/rw", "tmpfs", MS_NOSUID | MS_NODEV, opt);
  mkdirs("/rw/upper", 0755); mkdirs("/rw/work", 0755);
  mnt("overlay", NEWROOT, "overlay", MS_NOSUID | MS_NODEV, "lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work");
  mkdirs(NEWROOT "/proc", 0555); mkdirs(NEWROOT "/sys", 0555); mkdirs(NEWROOT "/dev", 0755);
  mkdirs(NEWROOT "/tmp", 01777); mkdirs(NEWROOT "/run", 0755);
  mnt("proc", NEWROOT "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  mnt("sysfs", NEWROOT "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, NULL);
  /* A small /dev of its own: no disks, no ports, nothing of the machine. */
  mnt("tmpfs", NEWROOT "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "size=1m,mode=0755");
  struct { const char *n; int maj, min; } devs[] = {{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};
  for (size_t i = 0; i < sizeof devs / sizeof devs[0]; i++) {
    char p[128];
    snprintf(p, sizeof p, NEWROOT "/dev/%s", devs[i].n);
    if (mknod(p, S_IFCHR | 0666, makedev(devs[i].maj, devs[i].min)) < 0) die(p);
    chmod(p, 0666);
  }
  if (mknod(NEWROOT "/dev/console", S_IFCHR | 0600, makedev(5, 1)) < 0) die("/dev/console");
  mkdirs(NEWROOT "/dev/pts", 0755); mkdirs(NEWROOT "/dev/shm", 01777);
  mnt("devpts", NEWROOT "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620");
  if (symlink("pts/ptmx", NEWROOT "/dev/ptmx") < 0) die("/dev/ptmx");
  snprintf(opt, sizeof opt, "size=%ldm,mode=1777", tmpfs_mib);
  mnt("tmpfs", NEWROOT "/tmp", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opt);
  mnt("tmpfs", NEWROOT "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64m,mode=1777");
  mnt("tmpfs", NEWROOT "/run", "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=0755");
  char homep[4096];
  snprintf(homep, sizeof homep, NEWROOT "%s", home);
  mkdirs(homep, 0755);
  snprintf(opt, sizeof opt, "size=%ldm,mode=0700,uid=%u,gid=%u", tmpfs_mib, uid, gid);
  mnt("tmpfs", homep, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opt);
  /* Cordon's files (relay, tools, home seed, trust): root's, read-only to the agent. */
  if (access("/cordon/files/run", F_OK) == 0) copy_tree("/cordon/files/run", NEWROOT "/run");
  mkdirs(NEWROOT "/run/cordon/egress", 0755);

  /* Workspaces, then the protection mounts, in the host's order. */
  long nmounts = num();
  for (long i = 0; i < nmounts; i++) {
    const char *kind = field();
    const char *source = field();
    const char *target = field();
    int ro = (int)num();
    char dst[4096], src[4096];
    snprintf(dst, sizeof dst, NEWROOT "%s", target);
    if (!strcmp(kind, "virtiofs")) {
      mkdirs(dst, 0755);
      mnt(source, dst, "virtiofs", MS_NOSUID | MS_NODEV | (ro ? MS_RDONLY : 0), NULL);
    } else if (!strcmp(kind, "bind")) {
      snprintf(src, sizeof src, NEWROOT "%s", source);
      struct stat s;
      if (lstat(dst, &s) < 0) { say("protected path %s does not exist in the guest", target); die(target); }
      mnt(src, dst, NULL, MS_BIND, NULL);
      if (ro) mnt(NULL, dst, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL);
    } else {
      errno = EINVAL;
      die(kind);
    }
  }
  long argc = num();
  if (argc < 1 || argc > 100000) { errno = EINVAL; die("argv"); }
  char **argv = calloc((size_t)argc + 1, sizeof *argv);
  for (long i = 0; i < argc; i++) argv[i] = (char *)field();
  long envc = num();
  if (envc < 0 || envc > 100000) { errno = EINVAL; die("env"); }
  char **envp = calloc((size_t)envc + 1, sizeof *envp);
  for (long i = 0; i < envc; i++) envp[i] = (char *)field();

  /* Loopback up (the relay listens on 127.0.0.1:3128); there is no other interface. */
  int ifs = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "lo");
  if (ifs < 0 || ioctl(ifs, SIOCGIFFLAGS, &ifr) < 0) die("loopback");
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(ifs, SIOCSIFFLAGS, &ifr) < 0) die("loopback up");
  close(ifs);

  port = open_port();
  int lproxy = listen_unix(NEWROOT "/run/cordon/egress/proxy.sock");
  int llife = listen_unix(NEWROOT "/run/cordon/egress/lifeline.sock");

  /* Into the new root for good. */
  if (chdir(NEWROOT) < 0) die("chdir");
  mnt(NEWROOT, "/", NULL, MS_MOVE, NULL);
  if (chroot(".") < 0 || chdir("/") < 0) die("chroot");

  int in_pipe[2] = {-1, -1}, out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
  int master = -1;
  char slave_name[64] = {0};
  if (tty) {
    master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0 || ptsname_r(master, slave_name, sizeof slave_name) != 0) die("pty");
    struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
    ioctl(master, TIOCSWINSZ, &ws);
  } else if (pipe2(in_pipe, O_CLOEXEC) < 0 || pipe2(out_pipe, O_CLOEXEC) < 0 || pipe2(err_pipe, O_CLOEXEC) < 0) {
    die("pipe");
  }
  pid_t child = fork();
  if (child < 0) die("fork");
  if (child == 0) {
    setsid();
    if (tty) {
      int s = open(slave_name, O_RDWR);
      if (s < 0) _exit(126);
      ioctl(s, TIOCSCTTY, 0);
      chown(slave_name, uid, gid);
      dup2(s, 0); dup2(s, 1); dup2(s, 2);
      if (s > 2) close(s);
    } else {
      dup2(in_pipe[0], 0); dup2(out_pipe[1], 1); dup2(err_pipe[1], 2);
    }
    /* As in a container: no capability can come back, not even through a set-uid file. */
    for (int cap = 0; cap <= 63; cap++) prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0) _exit(126);
    if (setuid(0) == 0) _exit(126); /* must be impossible now */
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (chdir(workdir) < 0 && chdir(home) < 0) _exit(126);
    execve(argv[0], argv, envp);
    _exit(127);
  }
  /* The agent's environment stays with the agent. */
  for (long i = 0; i < envc; i++) memset(envp[i], 0, strlen(envp[i]));
  int cin = -1, cout = -1, cerr = -1;
  if (tty) {
    cin = master; cout = master;
  } else {
    close(in_pipe[0]); close(out_pipe[1]); close(err_pipe[1]);
    cin = in_pipe[1]; cout = out_pipe[0]; cerr = err_pipe[0];
    fcntl(cin, F_SETFL, O_NONBLOCK);
  }
  for (int i = 0; i < MAX_STREAMS; i++) streams[i].fd = -1;
  fcntl(lproxy, F_SETFL, O_NONBLOCK);
  fcntl(llife, F_SETFL, O_NONBLOCK);

  char *stdin_buf = malloc(WINDOW);
  size_t stdin_len = 0;
  int stdin_eof = 0;
  int status = -1, exited = 0;
  uint8_t *buf = malloc(MAX_FRAME);
  if (!buf || !stdin_buf) die("malloc");

  for (;;) {
    /* Reap: the command first, then anything else (we are init). */
    for (;;) {
      int st;
      pid_t p = waitpid(-1, &st, WNOHANG);
      if (p <= 0) break;
      if (p == child) {
        status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        exited = 1;
        /* As a container ends with its PID 1: nothing of the session runs on. */
        kill(-1, SIGKILL);
      }
    }
    if (exited && cout < 0 && cerr < 0) break;
    if (exited && tty) {
      /* The terminal's last output: what is left in the master, then done. */
      fcntl(master, F_SETFL, O_NONBLOCK);
      ssize_t got;
      while ((got = read(master, buf, 32768)) > 0) put_frame(F_STDOUT, 0, buf, (uint32_t)got);
      break;
    }

    struct pollfd fds[8 + MAX_STREAMS];
    int kinds[8 + MAX_STREAMS];
    int n = 0;
    fds[n] = (struct pollfd){.fd = port, .events = POLLIN}; kinds[n++] = -1;
    fds[n] = (struct pollfd){.fd = lproxy, .events = POLLIN}; kinds[n++] = -2;
    fds[n] = (struct pollfd){.fd = llife, .events = POLLIN}; kinds[n++] = -3;
    if (cout >= 0) { fds[n] = (struct pollfd){.fd = cout, .events = POLLIN}; kinds[n++] = -4; }
    if (cerr >= 0) { fds[n] = (struct pollfd){.fd = cerr, .events = POLLIN}; kinds[n++] = -5; }
    if (cin >= 0 && !tty && (stdin_len > 0 || stdin_eof)) { fds[n] = (struct pollfd){.fd = cin, .events = POLLOUT}; kinds[n++] = -6; }
    if (tty && stdin_len > 0) { fds[n] = (struct pollfd){.fd = master, .events = POLLOUT}; kinds[n++] = -6; }
    for (int i = 0; i < MAX_STREAMS; i++) {
      struct stream *s = &streams[i];
      if (s->fd < 0) continue;
      short ev = 0;
      if (!s->local_eof && s->credit > 0) ev |= POLLIN;
      if (s->out_len > 0 || (s->host_eof && !s->shut)) ev |= POLLOUT;
      fds[n] = (struct pollfd){.fd = s->fd, .events = ev};
      kinds[n++] = i;
    }
    int r = poll(fds, (nfds_t)n, exited ? 50 : 200);
    if (r < 0 && errno != EINTR) die("poll");
    if (r <= 0) continue;
    for (int k = 0; k < n; k++) {
      if (!fds[k].revents) continue;
      int kind = kinds[k];
      if (kind == -1) {
        uint8_t h[9];
        read_port(h, 9);
        uint32_t id = (uint32_t)h[1] << 24 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 8 | h[4];
        uint32_t len = (uint32_t)h[5] << 24 | (uint32_t)h[6] << 16 | (uint32_t)h[7] << 8 | h[8];
        if (len > MAX_FRAME) { errno = EPROTO; die("frame from the host is too long"); }
        read_port(buf, len);
        struct stream *s = id ? find(id) : NULL;
        switch (h[0]) {
          case F_DATA:
            if (!s) break;
            if (s->out_len + len > WINDOW) { drop(s, 1); break; }
            s->out = realloc(s->out, s->out_len + len);
            memcpy(s->out + s->out_len, buf, len);
            s->out_len += len;
            break;
          case F_EOF: if (s) s->host_eof = 1; break;
          case F_CLOSE: if (s) drop(s, 0); break;
          case F_CREDIT:
            if (s && len == 4) s->credit += (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3];
            break;
          case F_STDIN:
            if (stdin_eof || stdin_len + len > WINDOW) break;
            memcpy(stdin_buf + stdin_len, buf, len);
            stdin_len += len;
            break;
          case F_STDIN_EOF: stdin_eof = 1; break;
          case F_RESIZE:
            if (tty && len == 4) {
              struct winsize ws = {.ws_row = (unsigned short)(buf[0] << 8 | buf[1]), .ws_col = (unsigned short)(buf[2] << 8 | buf[3])};
              ioctl(master, TIOCSWINSZ, &ws);
            }
            break;
          default: break;
        }
      } else if (kind == -2 || kind == -3) {
        int c = accept4(fds[k].fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (c < 0) continue;
        int slot = -1;
        for (int i = 0; i < MAX_STREAMS; i++) if (streams[i].fd < 0) { slot = i; break; }
        if (slot < 0) { close(c); continue; }
        streams[slot] = (struct stream){.id = next_id++, .fd = c, .credit = WINDOW};
        uint8_t target = kind == -2 ? 1 : 2;
        put_frame(F_OPEN, streams[slot].id, &target, 1);
      } else if (kind == -4 || kind == -5) {
        ssize_t got = read(fds[k].fd, buf, 32768);
        if (got > 0) {
          put_frame(kind == -4 ? F_STDOUT : F_STDERR, 0, buf, (uint32_t)got);
        } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
          close(fds[k].fd);
          if (kind == -4) cout = -1; else cerr = -1;
          if (tty) { cin = -1; master = -1; }
        }
      } else if (kind == -6) {
        if (stdin_len > 0) {
          ssize_t w = write(fds[k].fd, stdin_buf, stdin_len);
          if (w > 0) {
            memmove(stdin_buf, stdin_buf + w, stdin_len - (size_t)w);
            stdin_len -= (size_t)w;
            put_u32(F_CREDIT, 0, (uint32_t)w);
          } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
            stdin_len = 0;
            stdin_eof = 1;
          }
        }
        if (!tty && stdin_len == 0 && stdin_eof && cin >= 0) {
          close(cin);
          cin = -1;
        }
      } else {
        struct stream *s = &streams[kind];
        if (s->fd < 0) continue;
        if (fds[k].revents & POLLOUT) {
          if (s->out_len > 0) {
            ssize_t w = write(s->fd, s->out, s->out_len);
            if (w > 0) {
              memmove(s->out, s->out + w, s->out_len - (size_t)w);
              s->out_len -= (size_t)w;
              put_u32(F_CREDIT, s->id, (uint32_t)w);
            } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
              drop(s, 1);
              continue;
            }
          }
          if (s->out_len == 0 && s->host_eof && !s->shut) {
            shutdown(s->fd, SHUT_WR);
            s->shut = 1;
          }
        }
        if (fds[k].revents & (POLLIN | POLLHUP | POLLERR)) {
          uint32_t want = s->credit < 32768 ? s->credit : 32768;
          if (want == 0) continue;
          ssize_t got = read(s->fd, buf, want);
          if (got > 0) {
            put_frame(F_DATA, s->id, buf, (uint32_t)got);
            s->credit -= (uint32_t)got;
          } else if (got == 0) {
            s->local_eof = 1;
            put_frame(F_EOF, s->id, NULL, 0);
          } else if (errno != EAGAIN && errno != EINTR) {
            drop(s, 1);
            continue;
          }
        }
        if (s->local_eof && s->shut) drop(s, 1);
      }
    }
  }
  put_u32(F_EXIT, 0, (uint32_t)status);
  /* Wait (bounded) for the host's goodbye: everything before EXIT has then reached it. */
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    struct pollfd p = {.fd = port, .events = POLLIN};
    if (poll(&p, 1, 100) > 0) {
      uint8_t h[9];
      read_port(h, 9);
      uint32_t len = (uint32_t)h[5] << 24 | (uint32_t)h[6] << 16 | (uint32_t)h[7] << 8 | h[8];
      if (len > MAX_FRAME) break;
      read_port(buf, len);
      if (h[0] == F_BYE) break;
    }
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    if (t.tv_sec - t0.tv_sec > 5) break;
  }
  halt_now();
  return 0;
}
