// The client's one background thread. Screens never wait for the store or the network: they post
// work here and get the result back on the UI thread, at the start of a later frame (pump()).
// Work runs in the order posted, so a save posted after another save lands after it.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace veld::client {

class Worker {
  public:
    Worker();
    ~Worker();  // finishes every job already posted, then stops
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    /// Runs `work` on the worker thread, then `done(result)` on the UI thread in pump().
    template <class Work, class Done>
    void run(Work work, Done done) {
        post([work = std::move(work), done = std::move(done)]() mutable -> std::function<void()> {
            auto result = std::make_shared<decltype(work())>(work());
            return [done = std::move(done), result]() mutable { done(std::move(*result)); };
        });
    }

    /// Runs completions of finished work; call once per frame on the UI thread.
    void pump();
    /// Called on the worker thread when a job's completion waits for pump(): a window that
    /// sleeps until something happens is woken with it (glfwPostEmptyEvent).
    void onDone(std::function<void()> notify);
    /// Whether any job is queued, running, or waiting for pump().
    [[nodiscard]] bool busy() const;
    /// Blocks until every posted job has run (tests and shutdown), then pumps.
    void drain();

  private:
    using Job = std::function<std::function<void()>()>;
    void post(Job job);
    void loop();

    mutable std::mutex m_mutex;
    std::condition_variable m_wake;
    std::condition_variable m_idle;
    std::deque<Job> m_jobs;
    std::deque<std::function<void()>> m_done;
    std::function<void()> m_notify;
    bool m_running = false;
    bool m_stop = false;
    std::thread m_thread;
};

}  // namespace veld::client
