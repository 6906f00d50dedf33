// SPDX-License-Identifier: Apache-2.0
#include "capture/audit_events.hpp"

#include <cstring>

#include "capture/handlers.hpp"

namespace bluepython::capture {
namespace {

using enum subject_kind;
using policy::op;

constexpr guard_spec guard(op o, int index, int extra = -1) {
  return {o, static_cast<std::int8_t>(index), static_cast<std::int8_t>(extra)};
}

constexpr subject_spec subject(subject_kind kind, int index) { return {kind, static_cast<std::int8_t>(index)}; }
constexpr member_spec member(const char* key, int index) { return {key, static_cast<std::int8_t>(index)}; }

constexpr audit_event run_row(std::string_view name) {
  return {.name = name, .when = gate::always, .handle = &program_run, .reports = "python_run"};
}

// `guards`: what the policy checks, as (operation, argument) pairs.
constexpr audit_event change_row(std::string_view name, const char* what, int path, int target,
                                 std::array<guard_spec, 2> guards) {
  return {.name = name,
          .cat = category::files,
          .handle = &file_change,
          .wanted = &change_wanted,
          .reports = "python_file_change",
          .op = what,
          .members = {member("path", path), member("target", target)},
          .subjects = {subject(arg, path), target >= 0 ? subject(arg, target) : subject_spec{}},
          .check = &gate_paths,
          .guards = guards};
}

constexpr audit_event process_row(std::string_view name, handler_fn handle, subject_spec first, gate_fn gate,
                                  guard_spec g) {
  return {.name = name,
          .cat = category::process,
          .handle = handle,
          .reports = "python_process_spawn",
          .subjects = {first, {}},
          .starts_child = true,
          .check = gate,
          .guards = {g, {}}};
}

constexpr audit_event socket_row(std::string_view name, const char* reports, op o) {
  return {.name = name,
          .cat = category::network,
          .handle = &socket_address,
          .reports = reports,
          .subjects = {subject(host_of, 1), {}},
          .check = &gate_socket,
          .guards = {guard(o, 1), {}}};
}

constexpr audit_event members_row(std::string_view name, category cat, const char* reports,
                                  std::array<member_spec, 2> members, subject_spec first, gate_fn gate = nullptr,
                                  guard_spec g = {}) {
  return {.name = name, .cat = cat, .handle = &report_members, .reports = reports, .members = members,
          .subjects = {first, {}}, .check = gate, .guards = {g, {}}};
}

// Event names and argument positions: CPython's audit events table
// (docs.python.org/3/library/audit_events.html), the same on 3.10-3.13 for
// every row here. Shapes of what each becomes: docs/events.md.
constexpr audit_event kEvents[] = {
    // How the main program starts (python_run), and imports.
    run_row("cpython.run_file"),
    run_row("cpython.run_module"),
    run_row("cpython.run_command"),
    run_row("cpython.run_stdin"),
    run_row("cpython.run_startup"),
    run_row("cpython.run_interactivehook"),
    {.name = "import", .when = gate::always, .handle = &module_import},

    // process
    {.name = "subprocess.Popen",  // (executable, args, cwd, env)
     .cat = category::process,
     .handle = &popen_spawn,
     .seen = &popen_seen,
     .reports = "python_process_spawn",
     .subjects = {subject(arg, 0), subject(first_of, 1)},
     .starts_child = true,
     .check = &gate_spawn,
     .guards = {guard(op::spawn, 0, 1), {}}},
    {.name = "os.exec",  // (path, args, env)
     .cat = category::process,
     .handle = &exec_spawn,
     .reports = "python_process_spawn",
     .subjects = {subject(arg, 0), {}},
     .flush_after = true,
     .check = &gate_spawn,
     .guards = {guard(op::spawn, 0, 1), {}}},
    {.name = "os.posix_spawn",  // (path, argv, env)
     .cat = category::process,
     .handle = &exec_spawn,
     .seen = &posix_spawn_seen,
     .reports = "python_process_spawn",
     .subjects = {subject(arg, 0), {}},
     .starts_child = true,
     .check = &gate_spawn,
     .guards = {guard(op::spawn, 0, 1), {}}},
    process_row("os.spawn", &os_spawn, subject(arg, 1), &gate_spawn, guard(op::spawn, 1, 2)),  // (mode, path, args, env)
    process_row("pty.spawn", &pty_spawn, subject(first_of, 0), &gate_spawn, guard(op::spawn, -1, 0)),  // (argv)
    process_row("os.system", &system_spawn, subject(arg, 0), &gate_system, {}),                      // (command)
    {.name = "os.fork", .cat = category::process, .handle = &process_fork, .reports = "python_process_fork",
     .starts_child = true},
    {.name = "os.forkpty", .cat = category::process, .handle = &process_fork, .reports = "python_process_fork",
     .starts_child = true},
    {.name = "os.kill", .cat = category::process, .handle = &process_signal, .reports = "python_process_signal"},
    {.name = "os.killpg", .cat = category::process, .handle = &process_signal, .reports = "python_process_signal"},

    // files
    {.name = "open",  // (path, mode, flags)
     .cat = category::files,
     .handle = &file_open,
     .wanted = &open_wanted,
     .reports = "python_file_open",
     .subjects = {subject(arg, 0), {}},
     .check = &gate_open},
    change_row("os.remove", "remove", 0, -1, {guard(op::remove, 0), {}}),
    change_row("os.rmdir", "rmdir", 0, -1, {guard(op::remove, 0), {}}),
    change_row("os.mkdir", "mkdir", 0, -1, {guard(op::create, 0), {}}),
    change_row("os.rename", "rename", 0, 1, {guard(op::remove, 0), guard(op::write, 1)}),  // os.replace too
    // path: the new link; target: what it links to
    change_row("os.link", "link", 1, 0, {guard(op::create, 1), {}}),
    change_row("os.symlink", "symlink", 1, 0, {guard(op::create, 1), {}}),
    change_row("os.chmod", "chmod", 0, -1, {guard(op::write, 0), {}}),
    change_row("os.chown", "chown", 0, -1, {guard(op::write, 0), {}}),
    change_row("os.truncate", "truncate", 0, -1, {guard(op::write, 0), {}}),
    // path: the file written; target: its source
    change_row("shutil.copyfile", "copy", 1, 0, {guard(op::write, 1), guard(op::read, 0)}),
    change_row("shutil.copytree", "copytree", 1, 0, {guard(op::write, 1), guard(op::read, 0)}),
    change_row("shutil.move", "move", 0, 1, {guard(op::remove, 0), guard(op::write, 1)}),
    change_row("shutil.rmtree", "rmtree", 0, -1, {guard(op::remove, 0), {}}),
    // path: where it unpacks; target: the archive
    change_row("shutil.unpack_archive", "unpack_archive", 1, 0, {guard(op::write, 1), guard(op::read, 0)}),
    change_row("shutil.make_archive", "make_archive", 0, 2, {guard(op::write, 0), {}}),
    change_row("tempfile.mkstemp", "mkstemp", 0, -1, {guard(op::create, 0), {}}),
    change_row("tempfile.mkdtemp", "mkdtemp", 0, -1, {guard(op::create, 0), {}}),
    // A SQLite database: the name, then the connection once it exists
    // (db_events.cpp); its writes come from a trace callback.
    {.name = "sqlite3.connect", .cat = category::files, .handle = &sqlite_connect,  // (database): remembered
     .reports = "python_file_open"},                                                 // for the row below
    {.name = "sqlite3.connect/handle",  // (connection)
     .cat = category::files,
     .handle = &sqlite_opened,
     .wanted = &sqlite_opened_wanted,
     .reports = "python_file_open"},

    // network
    socket_row("socket.connect", "python_net_connect", op::connect),  // (socket, address)
    socket_row("socket.sendto", "python_net_connect", op::connect),
    socket_row("socket.sendmsg", "python_net_connect", op::connect),
    socket_row("socket.bind", "python_net_bind", op::bind),
    members_row("socket.getaddrinfo", category::network, "python_net_resolve", {member("host", 0), member("port", 1)},
                subject(arg, 0), &gate_host, guard(op::resolve, 0, 1)),
    members_row("socket.gethostbyname", category::network, "python_net_resolve", {member("host", 0), {}},
                subject(arg, 0), &gate_host, guard(op::resolve, 0)),
    members_row("http.client.connect", category::network, "python_net_connect",  // (self, host, port)
                {member("host", 1), member("port", 2)}, subject(arg, 1), &gate_host, guard(op::connect, 1, 2)),
    {.name = "urllib.Request",  // (url, data, headers, method)
     .cat = category::network,
     .handle = &url_request,
     .reports = "python_net_request",
     .subjects = {subject(arg, 0), {}}},

    // code
    {.name = "compile",  // (source, filename)
     .cat = category::code,
     .handle = &compile_source,
     .wanted = &compile_wanted,
     .reports = "python_code_dynamic",
     .subjects = {subject(arg, 1), {}},
     .check = &gate_code,
     .guards = {guard(op::dynamic, 1), {}}},
    {.name = "marshal.loads",  // (bytes)
     .cat = category::code,
     .handle = &marshal_loads,
     .wanted = &marshal_wanted,
     .reports = "python_code_dynamic",
     .check = &gate_code,
     .guards = {guard(op::dynamic, -1), {}}},
    members_row("pickle.find_class", category::code, "python_code_dynamic", {member("module", 0), member("name", 1)},
                subject(arg, 0), &gate_code, guard(op::unpickle, 0, 1)),
    members_row("ctypes.dlopen", category::code, "python_code_native_load", {member("library", 0), {}},
                subject(arg, 0), &gate_code, guard(op::native, 0)),
    members_row("ctypes.dlsym", category::code, "python_code_native_load",
                {member("library", 0), member("symbol", 1)}, subject(arg, 0)),
    members_row("sqlite3.load_extension", category::code, "python_code_native_load",  // (connection, path)
                {member("library", 1), {}}, subject(arg, 1), &gate_code, guard(op::native, 1)),
};

// The prefilter: one bit per pair of leading ASCII characters that some row
// starts with (128 x 128 bits).
constexpr std::size_t pair_index(unsigned char c0, unsigned char c1) { return (std::size_t{c0} << 7U) | c1; }

constexpr auto kLeadingPairs = [] {
  std::array<std::uint64_t, (128 * 128) / 64> bits{};
  for (const audit_event& e : kEvents) {
    const auto at = pair_index(static_cast<unsigned char>(e.name[0]), static_cast<unsigned char>(e.name[1]));
    bits[at / 64] |= std::uint64_t{1} << (at % 64);
  }
  return bits;
}();

// Open addressing over the rows by FNV-1a of the name.
constexpr std::uint32_t hash_name(std::string_view name) {
  std::uint32_t h = 2166136261U;
  for (const char c : name) h = (h ^ static_cast<unsigned char>(c)) * 16777619U;
  return h;
}

constexpr std::size_t kSlots = 128;
static_assert(std::size(kEvents) * 2 <= kSlots, "grow kSlots with the table");

constexpr auto kSlotRow = [] {
  std::array<std::int16_t, kSlots> slots{};
  slots.fill(-1);
  for (std::size_t i = 0; i < std::size(kEvents); ++i) {
    std::size_t at = hash_name(kEvents[i].name) & (kSlots - 1);
    while (slots[at] >= 0) at = (at + 1) & (kSlots - 1);
    slots[at] = static_cast<std::int16_t>(i);
  }
  return slots;
}();

constexpr bool names_unique() {
  for (std::size_t i = 0; i < std::size(kEvents); ++i) {
    if (kEvents[i].name.size() < 2) return false;  // the prefilter reads two characters
    for (std::size_t j = i + 1; j < std::size(kEvents); ++j) {
      if (kEvents[i].name == kEvents[j].name) return false;
    }
  }
  return true;
}
static_assert(names_unique(), "each audit event has one row, and a name of two characters or more");

}  // namespace

const audit_event* find_audit_event(const char* name) noexcept {
  const auto c0 = static_cast<unsigned char>(name[0]);
  if (c0 == 0 || c0 >= 128) return nullptr;
  const auto c1 = static_cast<unsigned char>(name[1]);
  if (c1 >= 128) return nullptr;
  const std::size_t pair = pair_index(c0, c1);
  if ((kLeadingPairs[pair / 64] & (std::uint64_t{1} << (pair % 64))) == 0) return nullptr;
  const std::string_view text(name);
  for (std::size_t at = hash_name(text) & (kSlots - 1); kSlotRow[at] >= 0; at = (at + 1) & (kSlots - 1)) {
    const audit_event& row = kEvents[static_cast<std::size_t>(kSlotRow[at])];
    if (row.name == text) return &row;
  }
  return nullptr;
}

std::span<const audit_event> audit_events() noexcept { return kEvents; }

}  // namespace bluepython::capture
