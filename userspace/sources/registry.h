#pragma once

#include <memory>
#include <vector>

#include "sources/source.h"

namespace zerotrace {

class SourceSet;

// How a feature joins the daemon: whether the configuration enables it, and how to make it
// (`earlier`: the sources registered before it, already started).
struct SourceRegistration {
  bool (*enabled)(const ProbeToggles& probes);
  std::unique_ptr<Source> (*make)(const SourceContext& context, const SourceSet& earlier);
};

// Every feature, in start order: one line each (registry.cpp).
const std::vector<SourceRegistration>& SourceRegistrations();

// The sources the configuration enables, created and started in the order of their registration,
// so a source can use one registered before it.
class SourceSet {
 public:
  // Creates and starts every enabled source. A source whose probes fail to attach stays in the
  // set and reports why (Source::probes()).
  static SourceSet Start(
      const SourceContext& context,
      const std::vector<SourceRegistration>& registrations = SourceRegistrations());

  SourceSet() = default;
  SourceSet(SourceSet&&) = default;
  SourceSet& operator=(SourceSet&&) = default;
  ~SourceSet() { Clear(); }

  // In creation order.
  const std::vector<std::unique_ptr<Source>>& all() const { return sources_; }

  // The enabled source of that type, or null.
  template <typename T>
  T* Find() const {
    for (const auto& s : sources_) {
      if (auto* t = dynamic_cast<T*>(s.get())) return t;
    }
    return nullptr;
  }

  // Stops every source's threads, the last created first (it may feed on an earlier one).
  void Stop();
  // Stops, then destroys (detaches) the sources, the last created first.
  void Clear();

 private:
  std::vector<std::unique_ptr<Source>> sources_;
};

}  // namespace zerotrace
