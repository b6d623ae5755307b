#include "worker.hpp"

namespace veld::client {

Worker::Worker() : m_thread([this] { loop(); }) {}

Worker::~Worker() {
    {
        std::lock_guard lock(m_mutex);
        m_stop = true;
    }
    m_wake.notify_all();
    m_thread.join();
}

void Worker::post(Job job) {
    {
        std::lock_guard lock(m_mutex);
        m_jobs.push_back(std::move(job));
    }
    m_wake.notify_one();
}

void Worker::loop() {
    std::unique_lock lock(m_mutex);
    for (;;) {
        m_wake.wait(lock, [this] { return m_stop || !m_jobs.empty(); });
        if (m_jobs.empty()) return;  // stopping, and everything posted has run
        Job job = std::move(m_jobs.front());
        m_jobs.pop_front();
        m_running = true;
        lock.unlock();
        std::function<void()> completion = job();
        lock.lock();
        m_done.push_back(std::move(completion));
        // The window is woken before the job counts as finished, so whoever waits for the
        // worker to be idle (drain) also sees the wake-up it caused.
        if (m_notify) {
            const std::function<void()> notify = m_notify;
            lock.unlock();
            notify();
            lock.lock();
        }
        m_running = false;
        if (m_jobs.empty()) m_idle.notify_all();
    }
}

void Worker::onDone(std::function<void()> notify) {
    std::lock_guard lock(m_mutex);
    m_notify = std::move(notify);
}

void Worker::pump() {
    // Completions may post more work; run only those present now, so a frame stays short.
    std::deque<std::function<void()>> ready;
    {
        std::lock_guard lock(m_mutex);
        ready.swap(m_done);
    }
    for (auto& completion : ready)
        completion();
}

bool Worker::busy() const {
    std::lock_guard lock(m_mutex);
    return m_running || !m_jobs.empty() || !m_done.empty();
}

void Worker::drain() {
    for (;;) {
        {
            std::unique_lock lock(m_mutex);
            m_idle.wait(lock, [this] { return !m_running && m_jobs.empty(); });
        }
        pump();
        std::lock_guard lock(m_mutex);
        if (!m_running && m_jobs.empty() && m_done.empty()) return;
    }
}

}  // namespace veld::client
