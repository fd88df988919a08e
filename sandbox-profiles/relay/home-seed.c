/*
 * Home seeding for cordon-relay (--home-seed DIR, issue 12 item 1).
 *
 * The agent's home is a fresh tmpfs in every sandbox, so an agent that keeps
 * its first-run state there (Claude Code: onboarding done, which API key the
 * user approved) would stop at its first-run screens on every launch. Cordon
 * writes that state on the host into a per-session folder, mounted read-only
 * at DIR, and the relay copies it into $HOME before it starts the agent. The
 * copy happens inside the sandbox, as the sandbox's own user, so the files
 * belong to the agent and never touch the user's real home.
 *
 * Only regular files and folders are copied, never symlinks or devices, and
 * nothing that already exists is overwritten (O_EXCL): the home is empty at
 * this point, and if it is not, what is there wins. Failures are reported and
 * skipped: a missing seed costs convenience (the agent asks its first-run
 * questions), never isolation.
 */
#define _GNU_SOURCE
#include "home-seed.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Seeds are a handful of small files; anything deeper or bigger is a mistake. */
#define SEED_MAX_DEPTH 4
#define SEED_MAX_BYTES (1024 * 1024)

static void warn(const char *what, const char *path) {
  fprintf(stderr, "cordon-relay: home seed: %s %s: %s\n", what, path, strerror(errno));
}

static void copy_file(int src_dir, int dst_dir, const char *name, const char *shown) {
  int in = openat(src_dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (in < 0) return warn("cannot read", shown);
  int out = openat(dst_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (out < 0) {
    if (errno != EEXIST) warn("cannot create", shown);
    close(in);
    return;
  }
  char buf[16384];
  size_t total = 0;
  for (;;) {
    ssize_t n = read(in, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n < 0) warn("cannot read", shown);
      break;
    }
    total += (size_t)n;
    if (total > SEED_MAX_BYTES) {
      errno = EFBIG;
      warn("too large, truncated", shown);
      break;
    }
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(out, buf + off, (size_t)(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        warn("cannot write", shown);
        n = -1;
        break;
      }
      off += w;
    }
    if (n < 0) break;
  }
  close(out);
  close(in);
}

static void copy_tree(int src_dir, int dst_dir, const char *shown, int depth) {
  DIR *d = fdopendir(dup(src_dir));
  if (!d) return warn("cannot list", shown);
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", shown, e->d_name);
    struct stat st;
    if (fstatat(src_dir, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
      warn("cannot stat", path);
      continue;
    }
    if (S_ISREG(st.st_mode)) {
      copy_file(src_dir, dst_dir, e->d_name, path);
    } else if (S_ISDIR(st.st_mode) && depth < SEED_MAX_DEPTH) {
      if (mkdirat(dst_dir, e->d_name, 0700) < 0 && errno != EEXIST) {
        warn("cannot create", path);
        continue;
      }
      int sub_src = openat(src_dir, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      int sub_dst = openat(dst_dir, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub_src >= 0 && sub_dst >= 0) copy_tree(sub_src, sub_dst, path, depth + 1);
      else warn("cannot open", path);
      if (sub_src >= 0) close(sub_src);
      if (sub_dst >= 0) close(sub_dst);
    }
    /* Symlinks, devices, sockets and over-deep folders are not copied. */
  }
  closedir(d);
}

void seed_home(const char *seed_dir) {
  const char *home = getenv("HOME");
  if (!home || home[0] != '/') {
    fprintf(stderr, "cordon-relay: home seed: HOME is not an absolute path; nothing copied\n");
    return;
  }
  int src = open(seed_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (src < 0) return warn("cannot open", seed_dir);
  int dst = open(home, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dst < 0) {
    warn("cannot open", home);
    close(src);
    return;
  }
  copy_tree(src, dst, home, 0);
  close(dst);
  close(src);
}
