// baton: parses the command line and hands over to src/app.
#include "baton/app/cli.hpp"

int main(int argc, char** argv) { return baton::app::run_cli(argc, argv); }
