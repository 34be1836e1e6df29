// libFuzzer's driver entry point (compiler-rt, LLVM 11+). Declared here so the Swift harness can
// run the fuzzer from its own entry point: SwiftPM renames an executable's `main`, so libFuzzer's
// main() is not the one that runs.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const unsigned char *data, unsigned long size));
