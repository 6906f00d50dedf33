// SPDX-License-Identifier: Apache-2.0
#include "cli/cli.hpp"

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "config/config.hpp"
#include "config/error.hpp"
#include "config/handoff.hpp"
#include "embed/interpreter.hpp"
#include "tools/event_summary.hpp"
#include "tools/policy_check.hpp"
#include "tools/policy_suggest.hpp"
#include "tools/report.hpp"
#include "tools/tail.hpp"
#include "version.hpp"

namespace bluepython {
namespace {

const getenv_fn process_env = [](const char* name) -> const char* { return std::getenv(name); };

std::string libpython_path() {
  Dl_info info{};
  if (::dladdr(reinterpret_cast<void*>(&Py_GetVersion), &info) != 0 && info.dli_fname != nullptr) {
    return info.dli_fname;
  }
  return "unknown";
}

std::string join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += sep;
    out += p;
  }
  return out;
}

// Children started by the app (sys.executable is bluepython) read only the
// environment, so what the run flags decided is handed down through it.
void export_flags_to_children(const config_flags& flags, const config& cfg) {
  if (flags.config_file) ::setenv("BLUEPYTHON_CONFIG", flags.config_file->c_str(), 1);
  if (flags.spool_dir) ::setenv("BLUEPYTHON_SPOOL_DIR", cfg.spool.dir.c_str(), 1);
  if (!flags.enable.empty() || !flags.disable.empty()) {
    std::vector<std::string> on;
    std::vector<std::string> off;
    for (std::size_t i = 0; i < category_count; ++i) {
      (cfg.categories[i] ? on : off).emplace_back(category_names[i]);
    }
    ::setenv("BLUEPYTHON_ENABLE", join(on, ",").c_str(), 1);
    ::setenv("BLUEPYTHON_DISABLE", join(off, ",").c_str(), 1);
  }
  if (flags.events_to_stderr) ::setenv("BLUEPYTHON_EVENTS_TO_STDERR", *flags.events_to_stderr ? "1" : "0", 1);
  if (flags.policy_file) ::setenv("BLUEPYTHON_POLICY", flags.policy_file->c_str(), 1);
  if (flags.policy_mode) ::setenv("BLUEPYTHON_POLICY_MODE", flags.policy_mode->c_str(), 1);
}

int print_version(const config& cfg, const launch_info& launch, bool as_json) {
  std::vector<std::string> on;
  std::vector<std::string> off;
  for (std::size_t i = 0; i < category_count; ++i) {
    (cfg.enabled(static_cast<category>(i)) ? on : off).emplace_back(category_names[i]);
  }
  if (as_json) {
    nlohmann::json doc = {
        {"bluepython", kVersion},
        {"python", Py_GetVersion()},
        {"libpython", libpython_path()},
        {"libpython_found_by", launch.found_by},
        {"config_file", cfg.source_file.empty() ? nlohmann::json(nullptr) : nlohmann::json(cfg.source_file)},
        {"config_digest", cfg.digest()},
        {"spool_dir", cfg.spool.dir},
        {"enabled", on},
        {"disabled", off},
        {"policy", cfg.guard ? nlohmann::json(cfg.policy_source) : nlohmann::json(nullptr)},
    };
    std::cout << doc.dump(2) << '\n';
    return 0;
  }
  std::cout << fmt::format("bluepython {}\n", kVersion)
            << fmt::format("embedded Python {}\n", Py_GetVersion())
            << fmt::format("libpython {} ({})\n", libpython_path(), launch.found_by)
            << fmt::format("config file {}\n", cfg.source_file.empty() ? "(none)" : cfg.source_file)
            << fmt::format("spool {}\n", cfg.spool.dir)
            << fmt::format("enabled categories: {}\n", on.empty() ? "(none)" : join(on, ", "))
            << fmt::format("disabled categories: {}\n", off.empty() ? "(none)" : join(off, ", "))
            << fmt::format("policy {}\n", cfg.guard ? fmt::format("{} ({} rules)", cfg.policy_source,
                                                                   cfg.guard->rules().size())
                                                      : std::string("(none)"));
  return 0;
}

void add_config_flags(CLI::App& cmd, config_flags& flags, std::vector<std::string>& enable,
                      std::vector<std::string>& disable) {
  cmd.add_option_function<std::string>(
         "--config", [&flags](const std::string& v) { flags.config_file = v; },
         "JSON config file (default: $BLUEPYTHON_CONFIG, else ~/.bluepython/config.json)")
      ->type_name("FILE");
  cmd.add_option_function<std::string>(
         "--spool-dir", [&flags](const std::string& v) { flags.spool_dir = v; },
         "directory for the NDJSON spool (default: ~/.bluepython/spool)")
      ->type_name("DIR");
  cmd.add_option("--enable", enable, "turn a category on: imports, mcp, process, files, network, code, all")
      ->type_name("CATEGORY")
      ->delimiter(',')
      ->take_all();
  cmd.add_option("--disable", disable, "turn a category off")->type_name("CATEGORY")->delimiter(',')->take_all();
  cmd.add_flag_callback(
      "--events-to-stderr", [&flags] { flags.events_to_stderr = true; },
      "also write every event to stderr (never stdout)");
  cmd.add_option_function<std::string>(
         "--policy", [&flags](const std::string& v) { flags.policy_file = v; },
         "guardrail policy to enforce (docs/policy.md; default: $BLUEPYTHON_POLICY)")
      ->type_name("FILE");
  cmd.add_option_function<std::string>(
         "--policy-mode", [&flags](const std::string& v) { flags.policy_mode = v; },
         "observe (record, change nothing), enforce (default) or kill, for every rule")
      ->type_name("MODE");
}

// A child whose environment lost BLUEPYTHON_* (MCP stdio clients scrub it)
// starts from its parent's published settings instead.
std::optional<inherited_config> inherit_from_parent() {
  if (std::getenv("BLUEPYTHON_PARENT") != nullptr) return std::nullopt;
  auto parent = handoff::find_for_parent();
  if (!parent) return std::nullopt;
  ::setenv("BLUEPYTHON_PARENT", fmt::format("{}:{}", parent->pid, parent->uuid).c_str(), 1);
  return inherited_config{std::move(parent->config), fmt::format("inherited from parent process {}", parent->pid)};
}

}  // namespace

bool is_subcommand(const std::string& arg) noexcept {
  return arg == "run" || arg == "version" || arg == "help" || arg == "tail" || arg == "report" || arg == "check" ||
         arg == "policy";
}

namespace {

// bluepython's own command line: every subcommand and what its flags set.
struct command_line {
  CLI::App app{"bluepython: a drop-in python that records what MCP servers do.\n"
               "  bluepython [python args]            run exactly like python\n"
               "  bluepython run [options] -- [python args]",
               "bluepython"};
  config_flags flags;
  std::vector<std::string> enable;
  std::vector<std::string> disable;
  CLI::App* run = nullptr;
  CLI::App* version = nullptr;
  bool version_json = false;
  CLI::App* tail = nullptr;
  tail::options tail_options;
  std::vector<std::string> tail_filters;
  std::string tail_color = "auto";
  CLI::App* report = nullptr;
  report::options report_options;
  CLI::App* check = nullptr;
  policy_tools::check_options check_options;
  CLI::App* policy = nullptr;
  CLI::App* suggest = nullptr;
  CLI::App* lock = nullptr;
  policy_tools::suggest_options suggest_options;
};

void add_spool_flags(CLI::App& cmd, config_flags& flags) {
  cmd.add_option_function<std::string>(
         "--config", [&flags](const std::string& v) { flags.config_file = v; }, "JSON config file (its spool.dir)")
      ->type_name("FILE");
  cmd.add_option_function<std::string>(
         "--spool-dir", [&flags](const std::string& v) { flags.spool_dir = v; },
         "spool directory (default: as bluepython run would use)")
      ->type_name("DIR");
}

void add_tail(command_line& c) {
  c.tail = c.app.add_subcommand("tail", "show events as they are written, one line each (docs/tail.md)");
  c.tail->add_flag("-f,--follow", c.tail_options.follow, "keep reading: new events and new processes' spool files");
  c.tail->add_option("-n,--lines", c.tail_options.lines, "show the last N matching events first (default 10)")
      ->type_name("N");
  c.tail->add_option("--filter", c.tail_filters,
                     "KEY=VALUE, KEY!=VALUE or KEY~TEXT; KEY: name (shell patterns), tool, session, pid, scope, "
                     "call, method; repeat to require all")
      ->type_name("EXPR")
      ->allow_extra_args(false);  // one expression per --filter: what follows is a path
  c.tail->add_option("--color", c.tail_color, "auto (a terminal and no NO_COLOR), always or never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  add_spool_flags(*c.tail, c.flags);
  c.tail->add_flag("--imports", c.tail_options.imports,
                   "show python_import events too (hidden by default: most of a spool's lines)");
  c.tail->add_option("paths", c.tail_options.paths, "spool directories or files instead")->type_name("PATH");
}

void add_report(command_line& c) {
  c.report = c.app.add_subcommand("report", "summarize a spool per process and session (docs/report.md)");
  c.report->add_flag("--json", c.report_options.json, "machine-readable output");
  c.report->add_option("--html", c.report_options.html,
                       "write a self-contained HTML page (per-session timelines, filterable by tool) to FILE")
      ->type_name("FILE");
  add_spool_flags(*c.report, c.flags);
  c.report->add_option("paths", c.report_options.paths, "spool directories or files instead")->type_name("PATH");
}

void add_policy_tools(command_line& c) {
  c.check = c.app.add_subcommand("check", "check a spool against a guardrail policy, offline (docs/policy-tools.md)");
  c.check->add_option("--policy", c.check_options.policy_file, "the policy file (docs/policy.md)")
      ->type_name("FILE")
      ->required();
  c.check->add_flag("--json", c.check_options.json, "machine-readable output");
  add_spool_flags(*c.check, c.flags);
  c.check->add_option("paths", c.check_options.paths, "spool directories or files instead")->type_name("PATH");

  c.policy = c.app.add_subcommand("policy", "write a policy from observed runs (docs/policy-tools.md)");
  c.policy->require_subcommand(1);
  c.suggest = c.policy->add_subcommand("suggest", "print a least-privilege policy of what the spools show");
  add_spool_flags(*c.suggest, c.flags);
  c.suggest->add_option("paths", c.suggest_options.paths, "spool directories or files instead")->type_name("PATH");
  c.lock = c.policy->add_subcommand("lock", "print a policy whose import lock is the modules the spools show");
  c.lock->add_option("--into", c.suggest_options.into, "keep the rest of this policy file's document")
      ->type_name("FILE");
  add_spool_flags(*c.lock, c.flags);
  c.lock->add_option("paths", c.suggest_options.paths, "spool directories or files instead")->type_name("PATH");
}

void define(command_line& c) {
  c.app.require_subcommand(1);
  c.app.set_help_flag("-h,--help", "print this help and exit");
  c.run = c.app.add_subcommand("run", "run python with bluepython options (python's args after --)");
  add_config_flags(*c.run, c.flags, c.enable, c.disable);
  c.version = c.app.add_subcommand("version", "print bluepython's version, the embedded Python and categories");
  c.version->add_flag("--json", c.version_json, "machine-readable output");
  add_config_flags(*c.version, c.flags, c.enable, c.disable);
  c.app.add_subcommand("help", "print this help");
  add_tail(c);
  add_report(c);
  add_policy_tools(c);
}

// `run`: bluepython's options come first and end at "--" or at the first
// argument that is not one of them (the script); everything from there on is
// python's, untouched, even a later "--". Python options before "--" are an
// error rather than a guess. Returns the index of python's first argument.
int split_run_arguments(int argc, char** argv, std::vector<std::string>& ours) {
  static const std::vector<std::string> with_value = {"--config", "--spool-dir", "--enable", "--disable", "--policy",
                                                      "--policy-mode"};
  static const std::vector<std::string> without_value = {"--events-to-stderr", "-h", "--help"};
  auto is_one_of = [](const std::string& name, const std::vector<std::string>& names) {
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  int i = 2;
  while (i < argc) {
    const std::string arg = argv[i];
    if (arg == "--") return i + 1;
    if (arg.size() < 2 || arg[0] != '-') break;  // the script (or "-": stdin)
    const std::string name = arg.substr(0, arg.find('='));
    if (is_one_of(name, with_value)) {
      ours.push_back(arg);
      if (name == arg && i + 1 < argc) ours.emplace_back(argv[++i]);
      ++i;
    } else if (is_one_of(name, without_value)) {
      ours.push_back(arg);
      ++i;
    } else {
      throw launcher_error::usage(fmt::format(
          "bluepython run: unknown option '{}' (python's own options go after --: "
          "bluepython run [options] -- {} ...)",
          arg, arg));
    }
  }
  return i;
}

// Parses `ours` (argv[1] and bluepython's options); false when help was printed.
bool parse(command_line& c, const std::vector<std::string>& ours) {
  std::vector<std::string> reversed(ours.rbegin(), ours.rend());
  try {
    c.app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    const CLI::App* asked = &c.app;
    for (const CLI::App* sub : {c.run, c.version, c.tail, c.report, c.check, c.policy}) {
      if (c.app.got_subcommand(sub)) asked = sub;
    }
    for (const CLI::App* sub : {c.suggest, c.lock}) {
      if (c.policy->got_subcommand(sub)) asked = sub;
    }
    std::cout << asked->help() << std::flush;
    return false;
  } catch (const CLI::ParseError& e) {
    throw launcher_error::usage(fmt::format("bluepython: {}", e.what()));
  }
  c.flags.enable = c.enable;
  c.flags.disable = c.disable;
  return true;
}

int run_tail(command_line& c, const config& cfg) {
  for (const auto& expr : c.tail_filters) c.tail_options.filters.push_back(tail::parse_filter(expr));
  c.tail_options.spool_dir = cfg.spool.dir;
  const char* no_color = std::getenv("NO_COLOR");
  c.tail_options.color = c.tail_color == "always" || (c.tail_color == "auto" && ::isatty(STDOUT_FILENO) == 1 &&
                                                      (no_color == nullptr || *no_color == '\0'));
  return tail::run(c.tail_options);
}

}  // namespace

int run_main(int argc, char** argv, const launch_info& launch) {
  std::vector<std::string> all(argv, argv + argc);
  if (argc < 2 || !is_subcommand(argv[1])) {
    // Drop-in python: every argument is CPython's.
    const auto inherited = inherit_from_parent();
    const config cfg = load_config({}, process_env, inherited ? &*inherited : nullptr);
    return run_interpreter(cfg, all, all);
  }
  command_line c;
  define(c);
  if (std::string(argv[1]) == "help") {
    std::cout << c.app.help() << std::flush;
    return 0;
  }
  std::vector<std::string> ours;
  int python_from = argc;
  if (std::string(argv[1]) == "run") {
    ours.emplace_back("run");
    python_from = split_run_arguments(argc, argv, ours);
  } else {
    ours.assign(argv + 1, argv + argc);
  }
  if (!parse(c, ours)) return 0;

  const bool reads_only = c.app.got_subcommand(c.version) || c.app.got_subcommand(c.tail) ||
                          c.app.got_subcommand(c.report) || c.app.got_subcommand(c.check) ||
                          c.app.got_subcommand(c.policy);
  const auto inherited = reads_only ? std::nullopt : inherit_from_parent();
  const config cfg = load_config(c.flags, process_env, inherited ? &*inherited : nullptr);
  if (c.app.got_subcommand(c.version)) return print_version(cfg, launch, c.version_json);
  tools::set_configured_state_dir(cfg.spool.dir, cfg.spool.state_dir);
  if (c.app.got_subcommand(c.report)) {
    c.report_options.spool_dir = cfg.spool.dir;
    return report::run(c.report_options);
  }
  if (c.app.got_subcommand(c.tail)) return run_tail(c, cfg);
  if (c.app.got_subcommand(c.check)) {
    c.check_options.spool_dir = cfg.spool.dir;
    c.check_options.home = home_directory(process_env);
    return policy_tools::run_check(c.check_options);
  }
  if (c.app.got_subcommand(c.policy)) {
    c.suggest_options.spool_dir = cfg.spool.dir;
    c.suggest_options.home = home_directory(process_env);
    return c.policy->got_subcommand(c.lock) ? policy_tools::run_lock(c.suggest_options)
                                            : policy_tools::run_suggest(c.suggest_options);
  }

  std::vector<std::string> python_argv{all[0]};
  python_argv.insert(python_argv.end(), argv + python_from, argv + argc);
  export_flags_to_children(c.flags, cfg);
  return run_interpreter(cfg, all, python_argv);
}

}  // namespace bluepython
