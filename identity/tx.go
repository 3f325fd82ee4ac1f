package identity

import (
	"context"
)

// Tx runs fn in one transaction (storage's InTx): the transaction travels
// in the context fn receives, a nested InTx joins the open one, and fn's
// error rolls everything back. Every use case that changes something runs
// in one, with its audit row (Auditor.Record uses the same context).
type Tx interface {
	// InTx returns fn's error unchanged, or the error of beginning or
	// committing (a serialization failure or a busy database included);
	// it never retries fn.
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}
