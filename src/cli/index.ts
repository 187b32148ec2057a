// cli: the `portcullis` command. bin/portcullis.js runs main.ts, which loads each command group's
// module only when that group runs, so that `--help` reads no gateway code. No other folder
// imports the command line, so nothing is exported here.
export {};
