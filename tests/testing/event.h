// -----------------------------------------------------------------------------
// File: tests/testing/event.h
// -----------------------------------------------------------------------------
//
// Event: a one-shot notification between test threads, built on std::mutex
// and std::condition_variable. absl::Notification would do, but Debian's
// Abseil is not TSan-instrumented, so TSan would not see its synchronisation.

#ifndef READBUF_TESTS_TESTING_EVENT_H_
#define READBUF_TESTS_TESTING_EVENT_H_

#include <condition_variable>
#include <mutex>

namespace readbuf::testing {

class Event {
 public:
  void Notify() {
    std::lock_guard<std::mutex> lock(mu_);
    notified_ = true;
    cv_.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return notified_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool notified_ = false;
};

}  // namespace readbuf::testing

#endif  // READBUF_TESTS_TESTING_EVENT_H_
