package restore

import (
	"context"
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/backup"
)

// Kept is one collection a restore moved aside and kept.
type Kept struct {
	// Run is the restore run that kept it; Collection its name in the application.
	Run        string `json:"run"`
	Collection string `json:"collection"`
	// Name is its name now (KeptName(Run, Collection)).
	Name      string `json:"name"`
	Documents int64  `json:"documents"`
}

// ListKept lists the collections restores kept in db (all runs), in name order.
func ListKept(ctx context.Context, db *mongo.Database) ([]Kept, error) {
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return nil, newErr(backup.ErrTargetUnreachable, err, hintTarget, "listing the collections of %s", db.Name())
	}
	var out []Kept
	for _, n := range names {
		rest, ok := strings.CutPrefix(n, prevPrefix)
		if !ok {
			continue
		}
		run, coll, ok := strings.Cut(rest, "_")
		if !ok {
			continue
		}
		c, err := db.Collection(n).EstimatedDocumentCount(ctx)
		if err != nil {
			return nil, newErr(backup.ErrTargetUnreachable, err, hintTarget, "counting %s.%s", db.Name(), n)
		}
		out = append(out, Kept{Run: run, Collection: coll, Name: n, Documents: c})
	}
	return out, nil
}

// DiscardKept drops the collections restores kept in db: those of run, or of every run when run is
// empty. It refuses while a restore is in progress or interrupted (its kept collections may be
// what a rollback puts back: recover first). It returns what it dropped.
func DiscardKept(ctx context.Context, db *mongo.Database, run string) ([]Kept, error) {
	m, err := ReadMarker(ctx, db)
	if err != nil {
		return nil, err
	}
	if m != nil && m.InProgress != nil {
		return nil, fmt.Errorf("%w: run %s (%s of %s, phase %s) is in progress or interrupted; nothing was dropped: wait for it, or run `caro backup recover --mongodb-uri <uri> --yes` first",
			ErrRestoreRunning, m.InProgress.ID, m.InProgress.Kind, m.InProgress.BackupID, m.InProgress.Phase)
	}
	all, err := ListKept(ctx, db)
	if err != nil {
		return nil, err
	}
	var dropped []Kept
	for _, k := range all {
		if run != "" && k.Run != run {
			continue
		}
		if err := db.Collection(k.Name).Drop(ctx); err != nil {
			return dropped, newErr(backup.ErrTargetUnreachable, err, hintTarget, "dropping %s.%s (%d dropped before it)", db.Name(), k.Name, len(dropped))
		}
		dropped = append(dropped, k)
	}
	if run != "" && len(dropped) == 0 {
		return nil, fmt.Errorf("no collections kept by restore run %q in %s (see `caro backup discard-replaced --mongodb-uri <uri>` for the runs that have some)", run, db.Name())
	}
	return dropped, nil
}
