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
}

int print_version(const config& cfg, bool as_json) {
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
        {"config_file", cfg.source_file.empty() ? nlohmann::json(nullptr) : nlohmann::json(cfg.source_file)},
        {"config_digest", cfg.digest()},
        {"spool_dir", cfg.spool.dir},
        {"enabled", on},
        {"disabled", off},
    };
    std::cout << doc.dump(2) << '\n';
    return 0;
  }
  std::cout << fmt::format("bluepython {}\n", kVersion)
            << fmt::format("embedded Python {}\n", Py_GetVersion())
            << fmt::format("libpython {}\n", libpython_path())
            << fmt::format("config file {}\n", cfg.source_file.empty() ? "(none)" : cfg.source_file)
            << fmt::format("spool {}\n", cfg.spool.dir)
            << fmt::format("enabled categories: {}\n", on.empty() ? "(none)" : join(on, ", "))
            << fmt::format("disabled categories: {}\n", off.empty() ? "(none)" : join(off, ", "));
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
  return arg == "run" || arg == "version" || arg == "help" || arg == "tail" || arg == "report";
}

int run_main(int argc, char** argv) {
  std::vector<std::string> all(argv, argv + argc);
  const std::string argv0 = argc > 0 ? argv[0] : "bluepython";

  if (argc < 2 || !is_subcommand(argv[1])) {
    // Drop-in python: every argument is CPython's.
    const auto inherited = inherit_from_parent();
    const config cfg = load_config({}, process_env, inherited ? &*inherited : nullptr);
    return run_interpreter(cfg, all, all);
  }

  CLI::App app{"bluepython: a drop-in python that records what MCP servers do.\n"
               "  bluepython [python args]            run exactly like python\n"
               "  bluepython run [options] -- [python args]",
               "bluepython"};
  app.require_subcommand(1);
  app.set_help_flag("-h,--help", "print this help and exit");

  config_flags flags;
  std::vector<std::string> enable;
  std::vector<std::string> disable;
  auto* run = app.add_subcommand("run", "run python with bluepython options (python's args after --)");
  add_config_flags(*run, flags, enable, disable);

  bool version_json = false;
  auto* version = app.add_subcommand("version", "print bluepython's version, the embedded Python and categories");
  version->add_flag("--json", version_json, "machine-readable output");
  add_config_flags(*version, flags, enable, disable);
  app.add_subcommand("help", "print this help");

  tail::options tail_options;
  std::vector<std::string> tail_filters;
  std::string tail_color = "auto";
  auto* tail_cmd = app.add_subcommand("tail", "show events as they are written, one line each (docs/tail.md)");
  tail_cmd->add_flag("-f,--follow", tail_options.follow, "keep reading: new events and new processes' spool files");
  tail_cmd->add_option("-n,--lines", tail_options.lines, "show the last N matching events first (default 10)")
      ->type_name("N");
  tail_cmd->add_option("--filter", tail_filters,
                       "KEY=VALUE, KEY!=VALUE or KEY~TEXT; KEY: name (shell patterns), tool, session, pid, scope, "
                       "call, method; repeat to require all")
      ->type_name("EXPR")
      ->take_all();
  tail_cmd->add_option("--color", tail_color, "auto (a terminal and no NO_COLOR), always or never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  tail_cmd->add_option_function<std::string>(
             "--config", [&flags](const std::string& v) { flags.config_file = v; }, "JSON config file (its spool.dir)")
      ->type_name("FILE");
  tail_cmd->add_option_function<std::string>(
             "--spool-dir", [&flags](const std::string& v) { flags.spool_dir = v; },
             "spool directory (default: as bluepython run would use)")
      ->type_name("DIR");
  tail_cmd->add_option("files", tail_options.files, "spool files to read instead of the directory")->type_name("FILE");

  report::options report_options;
  auto* report_cmd = app.add_subcommand("report", "summarize a spool per process and session (docs/report.md)");
  report_cmd->add_flag("--json", report_options.json, "machine-readable output");
  report_cmd->add_option("--html", report_options.html,
                         "write a self-contained HTML page (per-session timelines, filterable by tool) to FILE")
      ->type_name("FILE");
  report_cmd->add_option_function<std::string>(
               "--config", [&flags](const std::string& v) { flags.config_file = v; }, "JSON config file (its spool.dir)")
      ->type_name("FILE");
  report_cmd->add_option_function<std::string>(
               "--spool-dir", [&flags](const std::string& v) { flags.spool_dir = v; },
               "spool directory (default: as bluepython run would use)")
      ->type_name("DIR");
  report_cmd->add_option("paths", report_options.paths, "spool directories or files instead")->type_name("PATH");

  if (std::string(argv[1]) == "help") {
    std::cout << app.help() << std::flush;
    return 0;
  }

  // `run`: bluepython's options come first and end at "--" or at the first
  // argument that is not one of them (the script); everything from there on
  // is python's, untouched, even a later "--". Python options before "--"
  // are an error rather than a guess.
  std::vector<std::string> ours{argv[1]};
  std::vector<std::string> python_args;
  int i = 2;
  if (std::string(argv[1]) == "run") {
    static const std::vector<std::string> with_value = {"--config", "--spool-dir", "--enable", "--disable"};
    static const std::vector<std::string> without_value = {"--events-to-stderr", "-h", "--help"};
    auto is_one_of = [](const std::string& name, const std::vector<std::string>& names) {
      return std::find(names.begin(), names.end(), name) != names.end();
    };
    while (i < argc) {
      const std::string arg = argv[i];
      if (arg == "--") {
        ++i;
        break;
      }
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
    python_args.assign(argv + i, argv + argc);
  } else {
    ours.assign(argv + 1, argv + argc);
  }
  std::vector<std::string> reversed(ours.rbegin(), ours.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    std::cout << (app.got_subcommand(run)       ? run->help()
                  : app.got_subcommand(version) ? version->help()
                  : app.got_subcommand(tail_cmd) ? tail_cmd->help()
                  : app.got_subcommand(report_cmd) ? report_cmd->help()
                                                 : app.help())
              << std::flush;
    return 0;
  } catch (const CLI::ParseError& e) {
    throw launcher_error::usage(fmt::format("bluepython: {}", e.what()));
  }
  flags.enable = enable;
  flags.disable = disable;
  const auto inherited =
      app.got_subcommand(version) || app.got_subcommand(tail_cmd) || app.got_subcommand(report_cmd)
          ? std::nullopt
          : inherit_from_parent();
  const config cfg = load_config(flags, process_env, inherited ? &*inherited : nullptr);

  if (app.got_subcommand(version)) return print_version(cfg, version_json);
  if (app.got_subcommand(report_cmd)) {
    report_options.spool_dir = cfg.spool.dir;
    return report::run(report_options);
  }
  if (app.got_subcommand(tail_cmd)) {
    for (const auto& expr : tail_filters) tail_options.filters.push_back(tail::parse_filter(expr));
    tail_options.spool_dir = cfg.spool.dir;
    const char* no_color = std::getenv("NO_COLOR");
    tail_options.color = tail_color == "always" ||
                         (tail_color == "auto" && ::isatty(STDOUT_FILENO) == 1 && (no_color == nullptr || *no_color == '\0'));
    return tail::run(tail_options);
  }

  std::vector<std::string> python_argv{argv0};
  python_argv.insert(python_argv.end(), python_args.begin(), python_args.end());
  export_flags_to_children(flags, cfg);
  return run_interpreter(cfg, all, python_argv);
}

}  // namespace bluepython
