// Headers only (include/CBerthFuzz.h); SwiftPM needs one source file per C target.
