#include "baton/app/cli.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <iostream>

#include "baton/app/admin.hpp"
#include "baton/app/app.hpp"
#include "baton/app/config.hpp"
#include "baton/federation/keys.hpp"

namespace baton::app {

namespace {
int fail(const core::Error& e) {
  std::cerr << "baton: " << e.message << "\n";
  return e.code == core::Errc::bad_request ? 2 : 1;
}
}  // namespace

int run_cli(int argc, char** argv) {
  CLI::App cli{"Baton: live chat with warm transfers between agents, queues and organizations"};
  cli.require_subcommand(1);
  std::string log_level = "info";
  cli.add_option("--log-level", log_level, "trace, debug, info, warn, error")->capture_default_str();

  std::string config_path;
  std::string assets_dir;

  auto* serve = cli.add_subcommand("serve", "Run one server for production use");
  serve->add_option("--config", config_path, "Configuration file (TOML)")->required();
  serve->add_option("--assets", assets_dir, "Serve web files from this folder (development)");

  auto* demo = cli.add_subcommand("demo", "Run Acme Bank and Northwind Insurance with sample data");
  int demo_port = 8080;
  std::string demo_data;
  demo->add_option("--port", demo_port, "Acme Bank's port; Northwind Insurance takes the next one")
      ->check(CLI::Range(1, 65534))
      ->capture_default_str();
  demo->add_option("--data", demo_data, "Data folder (default: a new temporary folder)");
  demo->add_option("--assets", assets_dir, "Serve web files from this folder (development)");

  auto* keygen = cli.add_subcommand("keygen", "Make this server's Ed25519 key pair for federation");
  std::string key_out;
  keygen->add_option("--out", key_out, "Where to write the secret key (mode 0600; never overwritten)")->required();

  auto* agent = cli.add_subcommand("agent", "Manage agents in a configuration file");
  agent->require_subcommand(1);
  AgentAddArgs add_args;
  bool password_stdin = false;
  auto* agent_add_cmd = agent->add_subcommand("add", "Add an agent");
  agent_add_cmd->add_option("--config", config_path, "Configuration file")->required();
  agent_add_cmd->add_option("--name", add_args.name, "Sign-in name")->required();
  agent_add_cmd->add_option("--display-name", add_args.display_name, "Name shown to visitors");
  agent_add_cmd->add_option("--queues", add_args.queues, "Queues served (comma-separated)")
      ->delimiter(',')
      ->required();
  agent_add_cmd->add_option("--capacity", add_args.capacity, "Conversations at once")->capture_default_str();
  agent_add_cmd->add_flag("--password-stdin", password_stdin, "Read the password from standard input");
  std::string passwd_name;
  auto* agent_passwd_cmd = agent->add_subcommand("passwd", "Set an agent's password");
  agent_passwd_cmd->add_option("--config", config_path, "Configuration file")->required();
  agent_passwd_cmd->add_option("--name", passwd_name, "Sign-in name")->required();
  agent_passwd_cmd->add_flag("--password-stdin", password_stdin, "Read the password from standard input");

  auto* queue = cli.add_subcommand("queue", "Manage queues in a configuration file");
  queue->require_subcommand(1);
  std::string queue_name, queue_display;
  auto* queue_add_cmd = queue->add_subcommand("add", "Add a queue");
  queue_add_cmd->add_option("--config", config_path, "Configuration file")->required();
  queue_add_cmd->add_option("--name", queue_name, "Queue name")->required();
  queue_add_cmd->add_option("--display-name", queue_display, "Name shown to visitors");

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return cli.exit(e);
  }
  spdlog::set_level(spdlog::level::from_str(log_level));

  AppOptions options;
  options.assets_dir = assets_dir;

  if (serve->parsed()) {
    auto config = load_config(config_path);
    if (!config) return fail(config.error());
    return run_serve(*config, options);
  }
  if (demo->parsed()) return run_demo(static_cast<std::uint16_t>(demo_port), demo_data, options);
  if (keygen->parsed()) {
    auto pair = federation::generate_key_pair();
    if (auto st = federation::save_secret_key(key_out, pair); !st) return fail(st.error());
    std::cout << "secret key written to " << key_out << " (keep it private)\n"
              << "public key: " << federation::format_public_key(pair.public_key) << "\n"
              << "key id:     " << federation::key_id(pair.public_key) << "\n"
              << "Give the public key to your partners; put key_file = \"" << key_out
              << "\" under [federation] in your configuration.\n";
    return 0;
  }
  if (agent_add_cmd->parsed() || agent_passwd_cmd->parsed()) {
    auto password = read_password(std::cin, !password_stdin && isatty(STDIN_FILENO));
    if (!password) return fail(password.error());
    core::Status st = agent_add_cmd->parsed() ? agent_add(config_path, [&] {
      add_args.password = *password;
      return add_args;
    }())
                                              : agent_passwd(config_path, passwd_name, *password);
    if (!st) return fail(st.error());
    std::cout << (agent_add_cmd->parsed() ? "agent added\n"
                                          : "password changed, and the agent's sessions ended; a running server "
                                            "applies both when it restarts\n");
    return 0;
  }
  if (queue_add_cmd->parsed()) {
    if (auto st = queue_add(config_path, queue_name, queue_display); !st) return fail(st.error());
    std::cout << "queue added\n";
    return 0;
  }
  return 2;
}

}  // namespace baton::app
