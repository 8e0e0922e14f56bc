package localstack

import "fmt"

// MongoTool returns the path of a mongo-tools 100.10.0 binary, "mongodump" or "mongorestore",
// building it first if it is missing (see Install).
//
// Both tools take the server with --uri=<FerretDB.URI()>. Against FerretDB, mongorestore needs
// --noIndexRestore: it sends the legacy index option "ns", which FerretDB v1.24.0 rejects
// ("createIndex error: (BadValue) Index option "ns" is unknown") after the documents were already
// restored. With --noIndexRestore no index comes back, so code that restores must create its
// indexes (unique ones above all) itself afterwards.
func MongoTool(name string) (string, error) {
	switch name {
	case "mongodump", "mongorestore":
		return binary("mongotools", name)
	default:
		return "", fmt.Errorf("mongo tool %q: we build only mongodump and mongorestore: add it to build_mongotools in %s",
			name, installScript)
	}
}
