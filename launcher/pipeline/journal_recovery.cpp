// SPDX-License-Identifier: Apache-2.0
#include "pipeline/journal_recovery.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstring>
#include <ctime>
#include <string_view>

#include <fmt/format.h>

#include "pipeline/clock.hpp"
#include "pipeline/event_composer.hpp"
#include "pipeline/event_queue.hpp"
#include "pipeline/fd_util.hpp"
#include "pipeline/import_resolver.hpp"
#include "pipeline/journal.hpp"
#include "pipeline/json_writer.hpp"
#include "pipeline/spool_writer.hpp"

namespace bluepython {
namespace {

constexpr std::size_t kTailBytes = std::size_t{256} * 1024;

struct spool_tail {
  std::string path;            // the owner's newest spool file ("" if none)
  std::uint64_t last_id = 0;   // source_event_id of its last whole line (ours)
  std::int64_t last_ts_ns = 0; // when the last whole line was written (file mtime)
  bool ends_with_shutdown = false;
  bool repaired = false;
};

std::uint64_t number_after(std::string_view line, std::string_view key) {
  const auto at = line.find(key);
  if (at == std::string_view::npos) return 0;
  std::uint64_t value = 0;
  const char* p = line.data() + at + key.size();
  (void)std::from_chars(p, line.data() + line.size(), value);
  return value;
}

// The time of a line we wrote: {"ts":"...", ... (0 if not).
std::int64_t line_time_ns(std::string_view line) {
  constexpr std::string_view kPrefix = "{\"ts\":\"";
  if (!line.starts_with(kPrefix)) return 0;
  return static_cast<std::int64_t>(parse_rfc3339(line.substr(kPrefix.size(), 27)));
}

// Finds the owner's newest spool file, cuts an unterminated last line, and
// reads what its last whole line says.
bool inspect_spool(const std::string& dir, const std::string& stem, const std::string& uuid, spool_tail& out,
                   std::string& fault) {
  DIR* d = open_dir_high(dir.c_str());
  if (d == nullptr) return errno == ENOENT;  // nothing written yet, anywhere
  long best = -1;
  while (const dirent* entry = ::readdir(d)) {
    const std::string_view name(entry->d_name);
    const std::string_view rest = spool_file_rest(name);  // <pid>-<start ms>-<seq>.ndjson, either naming
    if (!rest.starts_with(stem)) continue;
    const std::string_view seq = rest.substr(stem.size(), rest.size() - stem.size() - kSpoolFileSuffix.size());
    long value = -1;
    const auto [end, ec] = std::from_chars(seq.data(), seq.data() + seq.size(), value);
    if (ec != std::errc() || end != seq.data() + seq.size()) continue;
    if (value > best) {
      best = value;
      out.path = dir + "/" + std::string(name);
    }
  }
  ::closedir(d);
  if (out.path.empty()) return true;
  const int fd = open_high(out.path.c_str(), O_RDWR | O_NOFOLLOW);
  if (fd < 0) {
    fault = fmt::format("cannot open {}: {}", out.path, error_text(errno));
    return false;
  }
  struct stat st{};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return false;
  }
  out.last_ts_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  const auto size = static_cast<std::uint64_t>(st.st_size);
  // The tail, widened until it holds a whole line (or the file's start):
  // an event can be longer than the first window.
  std::uint64_t from = size;
  std::string tail;
  std::size_t whole = 0;
  for (std::uint64_t window = kTailBytes; from > 0; window *= 2) {
    from = size > window ? size - window : 0;
    tail.assign(size - from, '\0');
    const ssize_t n = ::pread(fd, tail.data(), tail.size(), static_cast<off_t>(from));
    if (n < 0 || static_cast<std::size_t>(n) != tail.size()) {
      ::close(fd);
      fault = fmt::format("cannot read {}", out.path);
      return false;
    }
    const std::size_t newline = tail.rfind('\n');
    whole = newline == std::string::npos ? 0 : newline + 1;
    // The last whole line must be inside the window: its id is needed.
    const bool line_inside = whole >= 2 && tail.rfind('\n', whole - 2) != std::string::npos;
    if (from == 0 || line_inside) break;
  }
  if (whole != tail.size()) {
    // Half a line (or, on an odd filesystem, NULs): cut back to the last
    // newline; the records it held are composed again below.
    if (::ftruncate(fd, static_cast<off_t>(from + whole)) != 0) {
      fault = fmt::format("cannot repair {}: {}", out.path, error_text(errno));
      ::close(fd);
      return false;
    }
    out.repaired = true;
  }
  ::close(fd);
  if (whole == 0) return true;
  const std::size_t begin = whole >= 2 ? tail.rfind('\n', whole - 2) : std::string::npos;
  const std::string_view last(tail.data() + (begin == std::string::npos ? 0 : begin + 1),
                              whole - (begin == std::string::npos ? 0 : begin + 1));
  if (last.find("\"uuid\":\"" + uuid + "\"") == std::string_view::npos) return true;
  out.last_id = number_after(last, "\"source_event_id\":");
  // The file's mtime comes from a coarse clock: the line's own time can be
  // later by a tick.
  out.last_ts_ns = std::max(out.last_ts_ns, line_time_ns(last));
  out.ends_with_shutdown = last.find("\"meta\":{\"name\":\"sensor_shutdown\"") != std::string_view::npos;
  return true;
}

bool append_to_spool(const std::string& dir, const std::string& stem, const std::string& existing,
                     const std::string& lines, std::string& fault) {
  std::string path = existing;
  int fd = -1;
  if (path.empty()) {
    if (!make_private_dirs(dir, fault)) return false;
    path = fmt::format("{}/{}{}0{}", dir, kSpoolFilePrefix, stem, kSpoolFileSuffix);
    fd = open_high(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_NOFOLLOW, 0600);
  } else {
    fd = open_high(path.c_str(), O_WRONLY | O_APPEND | O_NOFOLLOW);
  }
  if (fd < 0) {
    fault = fmt::format("cannot open {}: {}", path, error_text(errno));
    return false;
  }
  const bool ok = write_all(fd, lines.data(), lines.size());
  if (!ok) fault = fmt::format("cannot write to {}: {}", path, error_text(errno));
  ::close(fd);
  return ok;
}

bool read_exactly(int fd, char* to, std::size_t n, off_t at) {
  while (n > 0) {
    const ssize_t r = ::pread(fd, to, n, at);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    to += r;
    n -= static_cast<std::size_t>(r);
    at += r;
  }
  return true;
}

// Whether the process a journal is named after may still run: a process of
// that pid exists and started no later than the journal (a later one has
// only reused the pid). Without /proc to ask, yes.
bool owner_may_live(std::string_view name) {
  // bluepython-<pid>-<start ms>.journal[.new]
  name.remove_prefix(std::min(name.size(), std::string_view("bluepython-").size()));
  int pid = 0;
  std::int64_t start_ms = 0;
  const auto [after_pid, ec1] = std::from_chars(name.data(), name.data() + name.size(), pid);
  if (ec1 != std::errc() || after_pid == name.data() + name.size() || *after_pid != '-' || pid <= 0) return false;
  const auto [after_ms, ec2] = std::from_chars(after_pid + 1, name.data() + name.size(), start_ms);
  if (ec2 != std::errc()) return false;
  if (::kill(pid, 0) != 0 && errno != EPERM) return false;
  const auto stat = read_small_file(fmt::format("/proc/{}/stat", pid), 4096);
  const auto boot = read_small_file("/proc/stat", 1U << 20U);
  if (!stat || !boot) return true;
  // Field 22 (starttime, clock ticks after boot) counts from after the
  // command's closing parenthesis, which may itself hold spaces.
  const std::size_t paren = stat->rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat->size()) return true;
  if (const char state = (*stat)[paren + 2]; state == 'Z' || state == 'X') return false;  // dead, not yet reaped
  std::size_t at = paren + 1;
  for (int field = 3; field < 22 && at != std::string::npos; ++field) at = stat->find(' ', at + 1);
  if (at == std::string::npos) return true;
  std::uint64_t ticks = 0;
  (void)std::from_chars(stat->data() + at + 1, stat->data() + stat->size(), ticks);
  const std::size_t btime = boot->find("\nbtime ");
  if (btime == std::string::npos) return true;
  std::int64_t boot_s = 0;
  (void)std::from_chars(boot->data() + btime + 7, boot->data() + boot->size(), boot_s);
  const long hz = ::sysconf(_SC_CLK_TCK);
  if (hz <= 0) return true;
  const std::int64_t started_ms = (boot_s * 1000) + static_cast<std::int64_t>(ticks * 1000 / static_cast<std::uint64_t>(hz));
  // btime is whole seconds and starttime ticks: a second of slack.
  return started_ms <= start_ms + 1000;
}

// One journal, its lock held. True when it can be removed. Read with pread,
// not mapped: a mapped read of a hole on a full tmpfs is a SIGBUS, and this
// runs in an app's writer thread too.
bool recover_one(int fd, const std::string& path, const std::string& spool_dir, recovery_report& report) {
  struct stat st{};
  if (::fstat(fd, &st) != 0) return false;
  const auto size = static_cast<std::size_t>(st.st_size);
  if (size < kJournalHeaderBytes) return true;  // not a journal we made (ours are sized before they are named)
  alignas(journal_header) std::array<char, sizeof(journal_header)> header_bytes{};
  if (!read_exactly(fd, header_bytes.data(), header_bytes.size(), 0)) {
    report.faults.push_back(fmt::format("cannot read {}: {}", path, error_text(errno)));
    return false;
  }
  const auto& h = *reinterpret_cast<const journal_header*>(header_bytes.data());
  if (h.magic != kJournalMagic || h.version != kJournalVersion || h.header_bytes < kJournalHeaderBytes ||
      h.header_bytes % kJournalHeaderBytes != 0 || h.header_bytes > size || h.region_bytes == 0 ||
      h.region_bytes > (size - h.header_bytes) / 2) {
    report.faults.push_back(fmt::format("{} is not a journal this version can read; removed", path));
    return true;
  }
  const auto state = static_cast<journal_state>(h.state.load());
  if (state == journal_state::finished || state == journal_state::recovered) return true;

  const std::string uuid(h.uuid.data(), ::strnlen(h.uuid.data(), h.uuid.size()));
  const std::string dir = !spool_dir.empty()
                              ? spool_dir
                              : std::string(h.spool_dir.data(), ::strnlen(h.spool_dir.data(), h.spool_dir.size()));
  if (dir.empty()) return true;  // made before its spool was known: nothing can be placed
  const std::string stem = fmt::format("{}-{}-", h.pid, h.start_ns / 1'000'000);
  spool_tail tail;
  std::string fault;
  if (!inspect_spool(dir, stem, uuid, tail, fault)) {
    report.faults.push_back(fault);
    return false;
  }
  if (tail.repaired) ++report.repaired;
  std::uint64_t next = std::max(h.written_id.load(), tail.last_id) + 1;

  process_identity identity;
  identity.pid = h.pid;
  identity.ppid = h.ppid;
  identity.sensor_id = h.sensor_id;
  identity.start_ns = h.start_ns;
  identity.uuid = uuid;
  identity.component_id.assign(h.component_id.data(), ::strnlen(h.component_id.data(), h.component_id.size()));
  const event_composer composer(identity);
  import_options no_baseline;
  no_baseline.baseline = false;
  import_resolver resolver(no_baseline, std::string());

  // Older region first: records are in emit order within one, and the
  // producers moved to the other only after the writer took this one.
  std::array<int, 2> order = {0, 1};
  if (h.regions[1].gen.load() < h.regions[0].gen.load()) order = {1, 0};
  std::string lines;
  std::uint64_t recovered = 0;
  const std::uint64_t handled = next - 1;
  std::int64_t last_ts = tail.last_ts_ns;
  std::array<std::string, 2> regions;
  for (const int i : order) {
    std::string& region = regions[static_cast<std::size_t>(i)];
    const std::uint64_t fill = std::min<std::uint64_t>(h.regions[i].fill.load(), h.region_bytes);
    region.resize(fill);
    if (!read_exactly(fd, region.data(), fill, static_cast<off_t>(h.header_bytes + (i * h.region_bytes)))) {
      report.faults.push_back(fmt::format("cannot read {}: {}", path, error_text(errno)));
      return false;
    }
    event_queue::for_each(region.data(), region.size(), [&](const record_view& r, std::uint64_t& id) {
      if (id == event_queue::kFilteredId || (id != 0 && id <= handled)) return;
      switch (composer.compose(r, next, lines, &resolver)) {
        case event_composer::outcome::line:
          id = next++;  // stamped, as the writer does: a later sweep knows it was handled
          ++recovered;
          last_ts = std::max(last_ts, r.ts_ns);
          break;
        case event_composer::outcome::filtered:
          id = event_queue::kFilteredId;
          break;
        case event_composer::outcome::failed:
          break;
      }
    });
  }
  const bool complete = recovered == 0 && (tail.ends_with_shutdown || state == journal_state::exec);
  if (!complete) {
    std::string attrs;
    json_writer w(attrs);
    w.key("reason");
    w.string("killed");
    w.key("recovered");
    w.unsigned_integer(recovered);
    record_view r;
    r.name = "sensor_shutdown";
    r.type = event_type::sensor_lifecycle;
    r.ts_ns = last_ts > 0 ? last_ts : wall_time_ns();
    r.attributes = attrs;
    (void)composer.compose(r, next, lines, nullptr);
  }
  // The ids go into the journal before the lines into the spool: a sweeper
  // killed after its append leaves a spool whose last line says so, and the
  // next sweep writes nothing twice.
  for (const int i : order) {
    const std::string& region = regions[static_cast<std::size_t>(i)];
    if (!region.empty() &&
        ::pwrite(fd, region.data(), region.size(), static_cast<off_t>(h.header_bytes + (i * h.region_bytes))) !=
            static_cast<ssize_t>(region.size())) {
      report.faults.push_back(fmt::format("cannot write {}: {}", path, error_text(errno)));
      return false;
    }
  }
  if (!lines.empty() && !append_to_spool(dir, stem, tail.path, lines, fault)) {
    report.faults.push_back(fault);
    return false;
  }
  // A sweeper that opened the file before it is removed finds it done.
  const auto recovered_state = static_cast<std::uint32_t>(journal_state::recovered);
  if (::pwrite(fd, &recovered_state, sizeof recovered_state, static_cast<off_t>(offsetof(journal_header, state))) !=
      static_cast<ssize_t>(sizeof recovered_state)) {
    // Removed next anyway; only a sweeper holding it open already could look again.
  }
  report.events += recovered;
  return true;
}

}  // namespace

std::vector<std::string> journal_names(const std::string& state_dir, const std::string& own_file_name) {
  std::vector<std::string> names;
  DIR* d = open_dir_high(state_dir.c_str());
  if (d == nullptr) return names;
  while (const dirent* entry = ::readdir(d)) {
    const std::string_view name(entry->d_name);
    if ((name.ends_with(".journal") || name.ends_with(".journal.new")) && name != own_file_name) {
      names.emplace_back(name);
    }
  }
  ::closedir(d);
  return names;
}

void recover_journal(const std::string& state_dir, const std::string& spool_dir, const std::string& name,
                     recovery_report& report) noexcept {
  try {
    std::string path = state_dir;
    path += '/';
    path += name;
    const int fd = open_high(path.c_str(), O_RDWR | O_NOFOLLOW);
    if (fd < 0) return;  // another sweep removed it
    // A free lock means the process is gone, unless the process closed our
    // descriptor itself (closerange) or exec'd: then it still runs, and a
    // process of that pid started no later than the journal says so.
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0 || owner_may_live(name)) {
      ::close(fd);
      return;
    }
    // Removed by another sweep between our open and our lock?
    struct stat by_fd{};
    if (::fstat(fd, &by_fd) != 0 || by_fd.st_nlink == 0) {
      ::close(fd);
      return;
    }
    if (name.ends_with(".new")) {
      // Its process died while making it: the few records copied in are
      // from before the interpreter ran, and nothing says where they go.
      ::unlink(path.c_str());
      ::close(fd);
      return;
    }
    bool done = false;
    try {
      done = recover_one(fd, path, spool_dir, report);
    } catch (...) {
      report.faults.push_back(fmt::format("out of memory recovering {}", path));
    }
    if (done) {
      ::unlink(path.c_str());
      ++report.journals;
    }
    ::close(fd);
  } catch (...) {
  }
}

recovery_report recover_journals(const std::string& state_dir, const std::string& spool_dir,
                                 const std::string& own_file_name) noexcept {
  recovery_report report;
  try {
    for (const auto& name : journal_names(state_dir, own_file_name)) recover_journal(state_dir, spool_dir, name, report);
  } catch (...) {
  }
  return report;
}

}  // namespace bluepython
