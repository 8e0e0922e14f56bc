// Command caro operates the Caro platform: region failover, backups, audit-ledger verification and a
// local drill.
package main

import "os"

func main() {
	os.Exit(Execute(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
