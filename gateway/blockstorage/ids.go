package blockstorage

import (
	"crypto/rand"
	"fmt"
	"time"
)

// newID mints a random (version 4) UUID, Canopy's top id of a volume,
// snapshot, type or attachment.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// timeFormat is Cinder's timestamp: microseconds and no zone designator
// (gophercloud and cinderclient parse it strictly).
const timeFormat = "2006-01-02T15:04:05.000000"

func stamp(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(timeFormat)
}
