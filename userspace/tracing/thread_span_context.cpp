#include "tracing/thread_span_context.h"

#include <algorithm>
#include <iterator>

namespace zerotrace::tracing {

ThreadSpanContext::ThreadSpanContext(ThreadSpanContextOptions options) : options_(options) {
  options_.max_spans_per_thread = std::max<size_t>(1, options_.max_spans_per_thread);
}

ServerSpanHandle ThreadSpanContext::BeginServerSpan(uint32_t tgid, uint32_t tid, uint64_t start_ns,
                                                    const std::optional<SpanContext>& incoming,
                                                    IdGenerator& ids, uint64_t conn,
                                                    const TraceId* new_trace) {
  ServerSpanHandle handle;
  if (incoming && incoming->IsValid()) {
    handle.context.trace_id = incoming->trace_id;
    handle.context.trace_flags = incoming->trace_flags;
    handle.context.trace_state = incoming->trace_state;
    handle.parent_span_id = incoming->span_id;
  } else if (new_trace && IsValid(*new_trace)) {
    handle.context.trace_id = *new_trace;
    handle.context.trace_flags = kTraceFlagSampled;
  } else {
    handle.context.trace_id = ids.NewTraceId();
    handle.context.trace_flags = kTraceFlagSampled;
  }
  handle.context.span_id = ids.NewSpanId();

  std::lock_guard<std::mutex> lock(mu_);
  uint64_t key = Key(tgid, tid);
  auto it = threads_.find(key);
  if (it == threads_.end()) {
    if (threads_.size() >= options_.max_threads) ExpireLocked(start_ns);
    if (threads_.size() >= options_.max_threads) {
      ++skipped_threads_;
      return handle;
    }
    it = threads_.emplace(key, Thread{}).first;
  }
  auto& entries = it->second.spans;
  // Another request still open on this thread: it serves several at once, and a call it makes
  // can belong to any of them. (A request whose end was missed looks the same: its thread
  // loses its links, never gets wrong ones.)
  for (auto& e : entries) {
    if (e.end_ns != 0 || e.start_ns > start_ns) continue;
    if (conn != 0 && e.conn == conn && e.start_ns < start_ns) {
      e.end_ns = start_ns;  // the connection's previous request is over
    } else {
      it->second.concurrent = true;
    }
  }
  while (entries.size() >= options_.max_spans_per_thread) entries.pop_front();
  entries.push_back(Entry{handle.context, start_ns, 0, conn});
  return handle;
}

bool ThreadSpanContext::EndServerSpan(uint32_t tgid, uint32_t tid, const SpanId& span_id,
                                      uint64_t end_ns) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = threads_.find(Key(tgid, tid));
  if (it == threads_.end()) return false;
  for (auto& e : it->second.spans) {
    if (e.context.span_id == span_id) {
      e.end_ns = std::max(end_ns, e.start_ns);
      return true;
    }
  }
  return false;
}

void ThreadSpanContext::ForgetServerSpan(uint32_t tgid, uint32_t tid, const SpanId& span_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = threads_.find(Key(tgid, tid));
  if (it == threads_.end()) return;
  std::erase_if(it->second.spans, [&](const Entry& e) { return e.context.span_id == span_id; });
}

std::optional<SpanContext> ThreadSpanContext::FindParent(uint32_t tgid, uint32_t tid,
                                                         uint64_t client_start_ns) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = threads_.find(Key(tgid, tid));
  if (it == threads_.end() || it->second.concurrent) return std::nullopt;
  const Entry* best = nullptr;
  for (const auto& e : it->second.spans) {
    bool contains = e.start_ns <= client_start_ns && (e.end_ns == 0 || client_start_ns <= e.end_ns);
    if (contains && (best == nullptr || e.start_ns >= best->start_ns)) best = &e;
  }
  if (best == nullptr) return std::nullopt;
  best->handed_out = true;
  return best->context;
}

bool ThreadSpanContext::Rejoin(uint32_t tgid, uint32_t tid, const SpanId& span_id,
                               const SpanContext& parent) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = threads_.find(Key(tgid, tid));
  if (it == threads_.end()) return false;
  for (auto& e : it->second.spans) {
    if (e.context.span_id != span_id) continue;
    if (e.handed_out) return false;
    e.context.trace_id = parent.trace_id;
    e.context.trace_flags = parent.trace_flags;
    e.context.trace_state = parent.trace_state;
    return true;
  }
  return false;
}

bool ThreadSpanContext::ServesConcurrently(uint32_t tgid, uint32_t tid) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = threads_.find(Key(tgid, tid));
  return it != threads_.end() && it->second.concurrent;
}

void ThreadSpanContext::ExpireLocked(uint64_t now_ns) {
  for (auto it = threads_.begin(); it != threads_.end();) {
    auto& entries = it->second.spans;
    std::erase_if(entries, [&](const Entry& e) {
      if (e.end_ns != 0) return e.end_ns + options_.retention_ns < now_ns;
      return e.start_ns + options_.max_open_ns < now_ns;
    });
    // A thread known to serve concurrently stays known while its process lives (ForgetProcess).
    it = entries.empty() && !it->second.concurrent ? threads_.erase(it) : std::next(it);
  }
}

void ThreadSpanContext::Expire(uint64_t now_ns) {
  std::lock_guard<std::mutex> lock(mu_);
  ExpireLocked(now_ns);
}

void ThreadSpanContext::ForgetProcess(uint32_t tgid) {
  std::lock_guard<std::mutex> lock(mu_);
  std::erase_if(threads_, [tgid](const auto& kv) { return (kv.first >> 32) == tgid; });
}

size_t ThreadSpanContext::thread_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return threads_.size();
}

uint64_t ThreadSpanContext::skipped_threads() const {
  std::lock_guard<std::mutex> lock(mu_);
  return skipped_threads_;
}

}  // namespace zerotrace::tracing
