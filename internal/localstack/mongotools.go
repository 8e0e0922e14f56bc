package localstack

import "fmt"

// MongoTool returns the path of a mongo-tools 100.10.0 binary, "mongodump" or "mongorestore",
// building it first if it is missing (see Install).
//
// Against FerretDB, run mongorestore with --noIndexRestore: FerretDB rejects some index options
// mongodump records. Both tools take the server with --uri=<FerretDB.URI()>.
func MongoTool(name string) (string, error) {
	switch name {
	case "mongodump", "mongorestore":
		return binary("mongotools", name)
	default:
		return "", fmt.Errorf("mongo tool %q: we build only mongodump and mongorestore: add it to build_mongotools in %s",
			name, installScript)
	}
}
