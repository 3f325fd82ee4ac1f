package storage

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"

	"github.com/identityd/identityd/models"
)

// AcquireLease takes the named job lease for holder until now+ttl if it is
// free (never taken, or expired): the row is inserted once (conflicts
// ignored), then one conditional UPDATE claims it. Of any number of
// concurrent callers exactly one sees its UPDATE match, on both databases
// (PostgreSQL re-checks the condition after waiting for the row lock; SQLite
// has one writer).
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	db := s.db(ctx)
	row := models.JobLease{Name: name, Holder: "", LeasedUntil: time.Unix(0, 0).UTC()}
	if err := db.Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
		return false, fmt.Errorf("acquire lease %s: %w", name, repoErr(err, "job_lease"))
	}
	now := s.now()
	res := db.Model(&models.JobLease{}).Where("name = ? AND leased_until < ?", name, now).
		Updates(map[string]any{"holder": holder, "leased_until": now.Add(ttl)})
	if res.Error != nil {
		if isConflict(res.Error) {
			return false, nil
		}
		return false, fmt.Errorf("acquire lease %s: %w", name, repoErr(res.Error, "job_lease"))
	}
	return res.RowsAffected == 1, nil
}

// GetLease returns the named lease.
func (s *Store) GetLease(ctx context.Context, name string) (*models.JobLease, error) {
	var l models.JobLease
	if err := s.db(ctx).Where("name = ?", name).Take(&l).Error; err != nil {
		return nil, fmt.Errorf("get lease: %w", repoErr(err, "job_lease"))
	}
	l.LeasedUntil = l.LeasedUntil.UTC()
	return &l, nil
}
