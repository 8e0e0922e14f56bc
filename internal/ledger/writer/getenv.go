package writer

import "os"

// getenvFunc is os.Getenv, replaceable in tests.
var getenvFunc = os.Getenv
