// What the operating system says about processes and the machine: CPU time,
// resident memory, and a description of the host for the results file.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>
#include <sys/types.h>

namespace baton::bench {

// Nanoseconds on the monotonic clock.
std::int64_t now_ns();

// CPU time (user + system) this process has used, from getrusage.
std::int64_t self_cpu_ns();

// CPU time (user + system) of another process, from /proc/PID/stat; -1 if gone.
std::int64_t process_cpu_ns(pid_t pid);

// CPU time of each thread of a process, by thread id in increasing order
// (creation order, as long as ids have not wrapped).
std::vector<std::pair<pid_t, std::int64_t>> thread_cpu_ns(pid_t pid);

// /proc/<pid>/task/<tid>/comm, without its newline.
std::string thread_name(pid_t pid, pid_t tid);
// A baton serve thread's role. The store's threads name themselves (store-writer,
// store-ckpt, store-sync); the others are told by their place in the order of
// creation in src/app/app.cpp: main (network), 2 blocking-pool threads, 4 peer-pool
// threads, then network threads. That part is a guess that holds only while app.cpp
// builds things in that order; the results say so.
std::string baton_thread_label(std::size_t index, const std::string& name);

// CPU time the whole machine has spent busy (all cores, not idle nor waiting
// for I/O), from /proc/stat. Busy time minus ours and the server's is what other
// programs took: a shared machine shows up there.
std::int64_t machine_busy_ns();

// /proc/PID/io: bytes handed to write-family system calls (wchar: the WAL and
// database pwrites, not socket sends, which go through sendmsg) and bytes the
// process caused to be written to storage (write_bytes). -1 when unreadable.
struct ProcessIo {
  std::int64_t wchar = -1;
  std::int64_t write_bytes = -1;
  std::int64_t syscw = -1;
};
ProcessIo process_io(pid_t pid);

// VmRSS of a process in bytes, from /proc/PID/status; -1 if gone. pid 0 = this process.
std::int64_t process_rss_bytes(pid_t pid);

struct Machine {
  int nproc = 0;
  std::string model_name;
  std::int64_t mem_total_bytes = 0;
  std::string kernel;
  double loadavg_1m = 0;  // at the time of the call: shows a busy, shared machine
};
Machine machine();

// Raises this process's open-file soft limit to the hard limit; returns the new soft limit.
std::uint64_t raise_fd_limit();

}  // namespace baton::bench
