// Power-loss shim for the power-loss test (tests/powerloss/, docs/reliability-tests.md). Loaded into dpd with
// LD_PRELOAD, it stands between SQLite and the kernel for every file under DPD_POWERCUT_DIR and models what a disk
// keeps when the power goes: what was fsync'ed survives, any write since may or may not have reached the platter,
// and a write in flight may be torn at a sector boundary. At the cut it rewrites the files to one such state and
// ends the process with _exit(99), as if the machine had stopped.
//
// How: before each write (write, pwrite, pwrite64, ftruncate, ftruncate64) to a tracked file it keeps the bytes
// and the size it replaces and the bytes it writes, in one list ordered as the writes happened. fsync/fdatasync on
// a file makes that file's entries durable (they are dropped: the disk has them). At the cut every entry still in
// the list is undone, newest first, which leaves the files exactly as the last syncs left them; then a random
// selection of those entries is written again in their original order — each one whole, not at all, or a random
// subset of its 512-byte sectors. Reordering is allowed (a later write may survive an earlier one), as disks do.
//
// The cut comes at the N-th operation on a tracked file after the test arms the shim (DPD_POWERCUT_OPS=N), or when
// the test creates the file "cut" in DPD_POWERCUT_CONTROL, whichever is first; the test creates "arm" there once it
// has verified the previous state, so that start-up and verification are never cut. Files ending in "-shm" are not
// tracked: SQLite maps the WAL index into memory and rebuilds it from the WAL when the first connection opens.
// Creating a file is taken as durable (SQLite syncs the directory after creating a journal).
//
// Environment: DPD_POWERCUT_DIR (required; without it the shim does nothing), DPD_POWERCUT_CONTROL (folder for
// "arm"/"cut"), DPD_POWERCUT_OPS (0 = only on "cut"), DPD_POWERCUT_SEED, DPD_POWERCUT_REAL_SYNC=1 (also fsync for
// real; off by default, the model decides durability). The line "powercut: …" on stderr says what the cut did.
//
// Thread-safety: every tracked operation runs under one global mutex, real write included, so the list and the
// files always agree; the cut keeps holding it while the process ends. Untracked descriptors pass straight
// through. Built only for tests; never linked into dpd.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace {

using OpenFn = int (*)(const char*, int, ...);
using OpenatFn = int (*)(int, const char*, int, ...);
using CloseFn = int (*)(int);
using WriteFn = ssize_t (*)(int, const void*, size_t);
using PwriteFn = ssize_t (*)(int, const void*, size_t, off_t);
using TruncFn = int (*)(int, off_t);
using SyncFn = int (*)(int);
using UnlinkFn = int (*)(const char*);

struct Real {
  OpenFn open, open64;
  OpenatFn openat, openat64;
  CloseFn close;
  WriteFn write;
  PwriteFn pwrite, pwrite64;
  TruncFn ftruncate, ftruncate64;
  SyncFn fsync, fdatasync;
  UnlinkFn unlink;
};

Real& R() {
  static Real r = [] {
    Real x{};
    x.open = reinterpret_cast<OpenFn>(dlsym(RTLD_NEXT, "open"));
    x.open64 = reinterpret_cast<OpenFn>(dlsym(RTLD_NEXT, "open64"));
    x.openat = reinterpret_cast<OpenatFn>(dlsym(RTLD_NEXT, "openat"));
    x.openat64 = reinterpret_cast<OpenatFn>(dlsym(RTLD_NEXT, "openat64"));
    x.close = reinterpret_cast<CloseFn>(dlsym(RTLD_NEXT, "close"));
    x.write = reinterpret_cast<WriteFn>(dlsym(RTLD_NEXT, "write"));
    x.pwrite = reinterpret_cast<PwriteFn>(dlsym(RTLD_NEXT, "pwrite"));
    x.pwrite64 = reinterpret_cast<PwriteFn>(dlsym(RTLD_NEXT, "pwrite64"));
    x.ftruncate = reinterpret_cast<TruncFn>(dlsym(RTLD_NEXT, "ftruncate"));
    x.ftruncate64 = reinterpret_cast<TruncFn>(dlsym(RTLD_NEXT, "ftruncate64"));
    x.fsync = reinterpret_cast<SyncFn>(dlsym(RTLD_NEXT, "fsync"));
    x.fdatasync = reinterpret_cast<SyncFn>(dlsym(RTLD_NEXT, "fdatasync"));
    x.unlink = reinterpret_cast<UnlinkFn>(dlsym(RTLD_NEXT, "unlink"));
    return x;
  }();
  return r;
}

constexpr int kMaxFd = 1 << 16;
constexpr std::size_t kSector = 512;

struct TrackedFile {
  std::string path;
  dev_t dev;
  ino_t ino;
  bool gone = false;  // unlinked: nothing of it matters any more
};

struct Entry {
  bool truncate;          // ftruncate to new_size; else a write of new_bytes at offset
  int file;
  off_t offset;           // write: where; truncate: the new size
  off_t old_size;         // the file's size just before
  std::string old_bytes;  // what the write overwrote (within old_size) / what the truncate cut off
  std::string new_bytes;  // what the write wrote
};

pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
std::atomic<int> g_fd_file[kMaxFd];  // fd → 1 + index into files, 0 = untracked (zero-initialised static)
std::atomic<bool> g_armed{false};
bool g_enabled = false;
std::string* g_dir;      // DPD_POWERCUT_DIR with a trailing '/'
std::string* g_control;  // DPD_POWERCUT_CONTROL
long g_cut_at = 0;
long g_ops = 0;
bool g_real_sync = false;
unsigned long g_seed = 1;
std::vector<TrackedFile>* g_files;
std::vector<Entry>* g_entries;

int FileOf(int fd) { return fd >= 0 && fd < kMaxFd ? g_fd_file[fd].load(std::memory_order_acquire) - 1 : -1; }

void Say(const std::string& line) {
  std::string s = "powercut: " + line + "\n";
  R().write(2, s.data(), s.size());
}

ssize_t PreadAll(int fd, char* buf, size_t n, off_t off) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = pread(fd, buf + done, n - done, off + static_cast<off_t>(done));
    if (r <= 0) break;
    done += static_cast<size_t>(r);
  }
  return static_cast<ssize_t>(done);
}

void PwriteAll(int fd, const char* buf, size_t n, off_t off) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = R().pwrite64(fd, buf + done, n - done, off + static_cast<off_t>(done));
    if (r <= 0) {
      Say("restore write failed: " + std::string(strerror(errno)));
      _exit(98);
    }
    done += static_cast<size_t>(r);
  }
}

// Brings every tracked file to one state a disk could hold after losing power now, then ends the process.
// Called with g_mu held; never returns.
[[noreturn]] void Cut(const char* why) {
  std::vector<Entry>& entries = *g_entries;
  std::vector<int> fds(g_files->size(), -1);
  for (std::size_t i = 0; i < g_files->size(); i++) {
    if (!(*g_files)[i].gone) fds[i] = R().open64((*g_files)[i].path.c_str(), O_RDWR);
  }
  // 1. Undo everything not synced, newest first: the files as the last fsync of each left them.
  for (std::size_t k = entries.size(); k-- > 0;) {
    const Entry& e = entries[k];
    int fd = fds[e.file];
    if (fd < 0) continue;
    if (e.truncate) {
      R().ftruncate64(fd, e.old_size);
      PwriteAll(fd, e.old_bytes.data(), e.old_bytes.size(), e.offset);
    } else {
      PwriteAll(fd, e.old_bytes.data(), e.old_bytes.size(), e.offset);
      R().ftruncate64(fd, e.old_size);
    }
  }
  // 2. Replay a random selection in the original order. The keep probability is itself random per cut, so some
  // cuts lose everything unsynced, some almost nothing, most something in between.
  std::mt19937_64 rng(g_seed ^ static_cast<unsigned long>(g_ops) * 0x9E3779B97F4A7C15ull);
  const double keep_p = std::uniform_real_distribution<double>(0, 1)(rng);
  std::uniform_real_distribution<double> u(0, 1);
  std::size_t kept = 0, torn = 0, dropped = 0, bytes = 0;
  for (const Entry& e : entries) {
    int fd = fds[e.file];
    if (fd < 0) continue;
    double roll = u(rng);
    if (roll < keep_p * 0.9) {
      kept++;
      if (e.truncate) {
        R().ftruncate64(fd, e.offset);
      } else {
        PwriteAll(fd, e.new_bytes.data(), e.new_bytes.size(), e.offset);
        bytes += e.new_bytes.size();
      }
    } else if (roll < keep_p && !e.truncate && e.new_bytes.size() > kSector) {
      torn++;  // some sectors of the write reached the disk, others did not
      for (std::size_t s = 0; s < e.new_bytes.size(); s += kSector) {
        if (u(rng) < 0.5) continue;
        std::size_t n = std::min(kSector, e.new_bytes.size() - s);
        PwriteAll(fd, e.new_bytes.data() + s, n, e.offset + static_cast<off_t>(s));
        bytes += n;
      }
    } else {
      dropped++;
    }
  }
  Say(std::string("cut (") + why + ") after " + std::to_string(g_ops) + " operations: " +
      std::to_string(entries.size()) + " unsynced, kept " + std::to_string(kept) + ", torn " + std::to_string(torn) +
      ", dropped " + std::to_string(dropped) + " (" + std::to_string(bytes) + " bytes replayed)");
  _exit(99);
}

void CountOp() {
  if (!g_armed.load(std::memory_order_acquire)) return;
  if (++g_ops == g_cut_at) Cut("operation count");
}

void Track(int fd, const char* path) {
  if (!g_enabled || fd < 0) return;
  std::string p = path;
  if (p.rfind(*g_dir, 0) != 0) return;
  if (p.size() > 4 && p.compare(p.size() - 4, 4, "-shm") == 0) return;
  if (fd >= kMaxFd) {
    Say("descriptor " + std::to_string(fd) + " too high to track");
    _exit(97);
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return;
  pthread_mutex_lock(&g_mu);
  int index = -1;
  for (std::size_t i = 0; i < g_files->size(); i++) {
    const TrackedFile& f = (*g_files)[i];
    if (!f.gone && f.dev == st.st_dev && f.ino == st.st_ino) index = static_cast<int>(i);
  }
  if (index < 0) {
    g_files->push_back({p, st.st_dev, st.st_ino});
    index = static_cast<int>(g_files->size()) - 1;
  }
  g_fd_file[fd].store(index + 1, std::memory_order_release);
  pthread_mutex_unlock(&g_mu);
}

ssize_t TrackedPwrite(int file, int fd, const void* buf, size_t n, off_t off) {
  pthread_mutex_lock(&g_mu);
  struct stat st;
  fstat(fd, &st);
  Entry e{false, file, off, st.st_size, {}, {}};
  if (off < st.st_size) {
    size_t within = static_cast<size_t>(std::min<off_t>(static_cast<off_t>(n), st.st_size - off));
    e.old_bytes.resize(within);
    e.old_bytes.resize(static_cast<size_t>(PreadAll(fd, e.old_bytes.data(), within, off)));
  }
  ssize_t r = R().pwrite64(fd, buf, n, off);
  if (r > 0) {
    e.new_bytes.assign(static_cast<const char*>(buf), static_cast<size_t>(r));
    g_entries->push_back(std::move(e));
  }
  CountOp();
  pthread_mutex_unlock(&g_mu);
  return r;
}

int TrackedTruncate(int file, int fd, off_t size) {
  pthread_mutex_lock(&g_mu);
  struct stat st;
  fstat(fd, &st);
  Entry e{true, file, size, st.st_size, {}, {}};
  if (size < st.st_size) {
    e.old_bytes.resize(static_cast<size_t>(st.st_size - size));
    e.old_bytes.resize(static_cast<size_t>(PreadAll(fd, e.old_bytes.data(), e.old_bytes.size(), size)));
  }
  int r = R().ftruncate64(fd, size);
  if (r == 0) g_entries->push_back(std::move(e));
  CountOp();
  pthread_mutex_unlock(&g_mu);
  return r;
}

int TrackedSync(int file, int fd, SyncFn real) {
  int r = g_real_sync ? real(fd) : 0;
  pthread_mutex_lock(&g_mu);
  CountOp();  // a cut here comes before the sync took effect
  if (r == 0) {
    std::vector<Entry>& v = *g_entries;
    std::size_t w = 0;
    for (std::size_t i = 0; i < v.size(); i++) {
      if (v[i].file != file) v[w++] = std::move(v[i]);
    }
    v.resize(w);
  }
  pthread_mutex_unlock(&g_mu);
  return r;
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

void* Watch(void*) {
  const std::string arm = *g_control + "/arm", cut = *g_control + "/cut";
  for (;;) {
    if (!g_armed.load() && Exists(arm)) g_armed.store(true, std::memory_order_release);
    if (Exists(cut)) {
      pthread_mutex_lock(&g_mu);
      Cut("requested");
    }
    struct timespec ts{0, 1000000};
    nanosleep(&ts, nullptr);
  }
  return nullptr;
}

__attribute__((constructor)) void Init() {
  R();
  const char* dir = getenv("DPD_POWERCUT_DIR");
  if (dir == nullptr || *dir == '\0') return;
  char resolved[PATH_MAX];
  g_dir = new std::string(realpath(dir, resolved) ? resolved : dir);
  if (g_dir->back() != '/') g_dir->push_back('/');
  g_files = new std::vector<TrackedFile>;
  g_entries = new std::vector<Entry>;
  if (const char* ops = getenv("DPD_POWERCUT_OPS")) g_cut_at = atol(ops);
  if (const char* seed = getenv("DPD_POWERCUT_SEED")) g_seed = strtoul(seed, nullptr, 10);
  g_real_sync = getenv("DPD_POWERCUT_REAL_SYNC") != nullptr;
  g_enabled = true;
  if (const char* control = getenv("DPD_POWERCUT_CONTROL")) {
    g_control = new std::string(control);
    pthread_t t;
    pthread_create(&t, nullptr, Watch, nullptr);
    pthread_detach(t);
  } else {
    g_armed = true;
  }
}

// Paths handed to open may be relative; tracking compares absolute ones.
std::string Absolute(int dirfd, const char* path) {
  if (path[0] == '/') return path;
  char buf[PATH_MAX];
  std::string base;
  if (dirfd == AT_FDCWD) {
    if (getcwd(buf, sizeof buf)) base = buf;
  } else {
    std::string link = "/proc/self/fd/" + std::to_string(dirfd);
    ssize_t n = readlink(link.c_str(), buf, sizeof buf - 1);
    if (n > 0) base.assign(buf, static_cast<size_t>(n));
  }
  return base + "/" + path;
}

mode_t ModeArg(int flags, va_list ap) {
  return ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) ? static_cast<mode_t>(va_arg(ap, int)) : 0;
}

}  // namespace

extern "C" {

int open(const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = ModeArg(flags, ap);
  va_end(ap);
  int fd = R().open(path, flags, mode);
  if (g_enabled && fd >= 0) Track(fd, Absolute(AT_FDCWD, path).c_str());
  return fd;
}

int open64(const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = ModeArg(flags, ap);
  va_end(ap);
  int fd = R().open64(path, flags, mode);
  if (g_enabled && fd >= 0) Track(fd, Absolute(AT_FDCWD, path).c_str());
  return fd;
}

int openat(int dirfd, const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = ModeArg(flags, ap);
  va_end(ap);
  int fd = R().openat(dirfd, path, flags, mode);
  if (g_enabled && fd >= 0) Track(fd, Absolute(dirfd, path).c_str());
  return fd;
}

int openat64(int dirfd, const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = ModeArg(flags, ap);
  va_end(ap);
  int fd = R().openat64(dirfd, path, flags, mode);
  if (g_enabled && fd >= 0) Track(fd, Absolute(dirfd, path).c_str());
  return fd;
}

int close(int fd) {
  if (fd >= 0 && fd < kMaxFd) g_fd_file[fd].store(0, std::memory_order_release);
  return R().close(fd);
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
  int file = FileOf(fd);
  return file < 0 ? R().pwrite(fd, buf, n, off) : TrackedPwrite(file, fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void* buf, size_t n, off_t off) {
  int file = FileOf(fd);
  return file < 0 ? R().pwrite64(fd, buf, n, off) : TrackedPwrite(file, fd, buf, n, off);
}

ssize_t write(int fd, const void* buf, size_t n) {
  int file = FileOf(fd);
  if (file < 0) return R().write(fd, buf, n);
  off_t off = lseek(fd, 0, SEEK_CUR);
  ssize_t r = TrackedPwrite(file, fd, buf, n, off);
  if (r > 0) lseek(fd, off + r, SEEK_SET);
  return r;
}

int ftruncate(int fd, off_t size) {
  int file = FileOf(fd);
  return file < 0 ? R().ftruncate(fd, size) : TrackedTruncate(file, fd, size);
}

int ftruncate64(int fd, off_t size) {
  int file = FileOf(fd);
  return file < 0 ? R().ftruncate64(fd, size) : TrackedTruncate(file, fd, size);
}

int fsync(int fd) {
  int file = FileOf(fd);
  return file < 0 ? R().fsync(fd) : TrackedSync(file, fd, R().fsync);
}

int fdatasync(int fd) {
  int file = FileOf(fd);
  return file < 0 ? R().fdatasync(fd) : TrackedSync(file, fd, R().fdatasync);
}

int unlink(const char* path) {
  if (g_enabled) {
    std::string p = Absolute(AT_FDCWD, path);
    pthread_mutex_lock(&g_mu);
    for (std::size_t i = 0; i < g_files->size(); i++) {
      TrackedFile& f = (*g_files)[i];
      if (f.gone || f.path != p) continue;
      f.gone = true;  // an unlinked journal or WAL is not read again; its unsynced writes do not matter
      std::vector<Entry>& v = *g_entries;
      std::size_t w = 0;
      for (std::size_t k = 0; k < v.size(); k++) {
        if (v[k].file != static_cast<int>(i)) v[w++] = std::move(v[k]);
      }
      v.resize(w);
    }
    pthread_mutex_unlock(&g_mu);
  }
  return R().unlink(path);
}

}  // extern "C"
