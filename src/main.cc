// The arrowport executable: everything lives in arrowport_cli and the libraries below it.
#include "arrowport/cli/commands.h"

int main(int argc, char** argv) { return arrowport::cli::Main(argc, argv); }
