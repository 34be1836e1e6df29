// Every test file here builds models (and servers) with the shared test-support target.
@_exported import BerthTestSupport
