package restore

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/retention"
)

// expireRetained expires, in the restored data, the records whose retention ended
// (internal/retention, the daily job's rule): a backup taken before the last daily run would
// otherwise bring them back until the next one. It runs under the restore's own maintenance switch,
// after the erasures, and can be repeated (a finished run is finished again after a crash). A
// failure is a warning, not an error: the daily job is the backstop, and a failover must not stop
// on it.
func (o *Options) expireRetained(ctx context.Context, db *mongo.Database, rep *Report) {
	if o.RetentionYears == 0 {
		return
	}
	r, err := retention.Run(ctx, retention.Options{DB: db, Years: o.RetentionYears, Origin: o.Origin,
		// The restore holds the switch itself: nothing else writes meanwhile.
		Paused:   func(context.Context) error { return nil },
		Progress: func(m string) { o.say("retention", "%s", m) }})
	if err != nil {
		w := fmt.Sprintf("records past the retention of %d years could not be expired in the restored data (%v): the daily retention job expires them on its next run; invoke it now if that matters", o.RetentionYears, err)
		rep.Warnings = append(rep.Warnings, w)
		o.say("retention", "WARNING: %s", w)
		return
	}
	rep.Retention = &r
}
