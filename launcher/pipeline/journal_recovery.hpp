// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace bluepython {

struct recovery_report {
  std::size_t journals = 0;   // journals of dead processes handled (and removed)
  std::uint64_t events = 0;   // events that were only in a journal, now in the spool
  std::size_t repaired = 0;   // spool files whose unterminated last line was cut
  std::vector<std::string> faults;
};

// The sweep: for every journal in `state_dir` whose lock is free (its process
// is gone; a live one holds it), except `own_file_name`:
//  - the owner's newest spool file loses an unterminated last line (a write
//    the kill cut short);
//  - the records the spool does not have yet (source_event_id above the last
//    one written, or never composed) are composed with the dead process's
//    identity and appended, ids continuing gap-free;
//  - sensor_shutdown with reason "killed" and "recovered" (how many) closes
//    the stream, unless the process had finished or exec'd with nothing
//    missing;
//  - the journal is removed.
// A journal whose lock is free but whose pid belongs to a process started no
// later than the journal is left alone (its process closed our descriptor,
// or exec'd). Several sweepers at once are safe (the lock). Never throws.
// Events go to `spool_dir`, the directory this state directory belongs to
// (a copied or moved spool keeps its journals working; one state directory
// serves one spool directory); empty: the directory the journal names.
recovery_report recover_journals(const std::string& state_dir, const std::string& spool_dir,
                                 const std::string& own_file_name = {}) noexcept;

// The same, one journal at a time: the names a sweep would look at, and one
// of them (the writer thread interleaves them with its batches).
std::vector<std::string> journal_names(const std::string& state_dir, const std::string& own_file_name);
void recover_journal(const std::string& state_dir, const std::string& spool_dir, const std::string& name,
                     recovery_report& report) noexcept;

// The state directory that goes with a spool directory by default (inline: the
// configuration needs it without the rest of the recovery).
inline std::string default_state_dir(const std::string& spool_dir) {
  std::string dir = spool_dir;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir + ".state";
}

}  // namespace bluepython
