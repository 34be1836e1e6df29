import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Opens an ONNX external-data file, contained in the model's folder: a model file must not make
/// the server read arbitrary files. The location is refused when it is absolute, climbs with
/// `..`, holds a backslash or NUL, or — after symlinks are resolved — lands outside the folder;
/// the file must be a regular file with one link (a hard link can make a file from anywhere on
/// the volume appear inside the folder; a FIFO or device would block or never end).
enum ExternalDataFile {
    static func open(_ location: String, in base: URL, fail: (String) -> ONNXError) throws -> FileHandle {
        let parts = location.split(separator: "/", omittingEmptySubsequences: false)
        guard !location.hasPrefix("/"), !parts.contains(".."), !location.contains("\\"), !location.contains("\0") else {
            throw fail("location '\(location)' leaves the model folder")
        }
        let root = base.resolvingSymlinksInPath().standardizedFileURL.path
        let resolved = base.appendingPathComponent(location).resolvingSymlinksInPath().standardizedFileURL.path
        guard resolved.hasPrefix(root.hasSuffix("/") ? root : root + "/") else {
            throw fail("location '\(location)' resolves outside the model folder (a symbolic link?)")
        }
        // O_NOFOLLOW: the path was just resolved, so a link appearing now is refused; O_NONBLOCK:
        // opening a FIFO must not wait for a writer.
        let fd = Foundation.open(resolved, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw fail("cannot open \(location): \(String(cString: strerror(errno)))") }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            close(fd)
            throw fail("cannot stat \(location)")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw fail("\(location) is not a regular file")
        }
        guard st.st_nlink == 1 else {
            close(fd)
            throw fail("\(location) has \(st.st_nlink) hard links; external data must be a file of its own")
        }
        return FileHandle(fileDescriptor: fd, closeOnDealloc: true)
    }
}
