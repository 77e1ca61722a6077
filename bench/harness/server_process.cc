// See server_process.h.
#include "bench/harness/server_process.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace readbuf::bench {

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    const Options& options) {
  if (options.argv.empty()) return absl::InvalidArgumentError("empty argv");
  // Built before fork(): the child only execs.
  std::vector<char*> args;
  for (const std::string& a : options.argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> envp;
  for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
  for (const std::string& e : options.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return absl::ErrnoToStatus(errno, "pipe2");
  const pid_t pid = fork();
  if (pid < 0) return absl::ErrnoToStatus(errno, "fork");
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    if (options.cpu >= 0) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(options.cpu, &set);
      sched_setaffinity(0, sizeof(set), &set);
    }
    execve(args[0], args.data(), envp.data());
    std::fprintf(stderr, "cannot exec %s: %s\n", args[0], strerror(errno));
    _exit(127);
  }
  close(out[1]);
  std::unique_ptr<ServerProcess> server(new ServerProcess(pid, -1));
  // Read the first line, with a deadline.
  std::string line;
  const absl::Time deadline = absl::Now() + options.start_timeout;
  while (line.find('\n') == std::string::npos) {
    const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    pollfd p{out[0], POLLIN, 0};
    if (ms <= 0 || poll(&p, 1, static_cast<int>(ms)) <= 0) {
      close(out[0]);
      return absl::DeadlineExceededError(
          absl::StrCat(options.argv[0], " did not print 'listening <port>' in time"));
    }
    char chunk[256];
    const ssize_t n = read(out[0], chunk, sizeof(chunk));
    if (n <= 0) {
      close(out[0]);
      return absl::UnavailableError(
          absl::StrCat(options.argv[0], " exited before printing 'listening <port>'"));
    }
    line.append(chunk, static_cast<size_t>(n));
  }
  // The read end stays open until Stop(), so the server never gets SIGPIPE.
  server->stdout_fd_ = out[0];
  absl::string_view first(line);
  first = first.substr(0, first.find('\n'));
  int port = -1;
  if (!absl::ConsumePrefix(&first, "listening ") || !absl::SimpleAtoi(first, &port)) {
    return absl::InternalError(
        absl::StrCat(options.argv[0], " printed '", first, "', not 'listening <port>'"));
  }
  server->port_ = port;
  return server;
}

ServerProcess::~ServerProcess() { (void)Stop(); }

std::vector<pid_t> ServerProcess::Threads() const {
  std::vector<pid_t> tids;
  const std::string dir = absl::StrCat("/proc/", pid_, "/task");
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      int tid;
      if (absl::SimpleAtoi(e->d_name, &tid)) tids.push_back(tid);
    }
    closedir(d);
  }
  return tids;
}

absl::StatusOr<double> ProcessCpuSeconds(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // utime and stime are fields 14 and 15: the 12th and 13th after ") ".
  const size_t close = stat.rfind(')');
  if (close == std::string::npos || close + 2 > stat.size()) {
    return absl::UnavailableError(absl::StrCat("no /proc/", pid, "/stat"));
  }
  std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(stat).substr(close + 2), ' ');
  double utime = 0, stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtod(fields[11], &utime) ||
      !absl::SimpleAtod(fields[12], &stime)) {
    return absl::InternalError(absl::StrCat("cannot parse /proc/", pid, "/stat"));
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

absl::StatusOr<size_t> ProcessRssBytes(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view view(line);
    if (absl::ConsumePrefix(&view, "VmRSS:")) {
      view = absl::StripSuffix(absl::StripAsciiWhitespace(view), " kB");
      size_t kb;
      if (absl::SimpleAtoi(view, &kb)) return kb * 1024;
    }
  }
  return absl::UnavailableError(absl::StrCat("no VmRSS in /proc/", pid, "/status"));
}

absl::StatusOr<double> ServerProcess::CpuSeconds() const { return ProcessCpuSeconds(pid_); }

absl::StatusOr<size_t> ServerProcess::RssBytes() const { return ProcessRssBytes(pid_); }

absl::Status ServerProcess::Stop(absl::Duration grace) {
  if (stopped_) return absl::OkStatus();
  stopped_ = true;
  kill(pid_, SIGTERM);
  const absl::Cleanup close_stdout = [this] {
    if (stdout_fd_ >= 0) close(stdout_fd_);
  };
  const absl::Time deadline = absl::Now() + grace;
  int status = 0;
  for (;;) {
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) break;
    if (r < 0) return absl::ErrnoToStatus(errno, "waitpid");
    if (absl::Now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      return absl::DeadlineExceededError("server ignored SIGTERM; killed");
    }
    usleep(10000);
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("server exited with status ", status));
}

}  // namespace readbuf::bench
