package curfew

import "fmt"

// MaxPageSize bounds the rows one page of a listing holds, so that a page
// of the console costs the same with a hundred devices or a hundred
// thousand.
const MaxPageSize = 1000

// maxSearch bounds the text a listing is searched for.
const maxSearch = 200

// DeviceQuery selects a page of the registered devices, sorted by MAC.
type DeviceQuery struct {
	// Search, if not empty, keeps the devices that hold it, whatever its
	// case, in their MAC, name, owner or one of their static addresses.
	Search string
	// Owner, if not empty, keeps the devices person Owner owns.
	Owner string
	// Offset is how many of the matching devices to skip.
	Offset int
	// Limit is the most devices the page holds: 1 to MaxPageSize.
	Limit int
}

// Validate checks q.
func (q *DeviceQuery) Validate() error {
	if q.Owner != "" {
		if err := ValidateName(q.Owner); err != nil {
			return fmt.Errorf("owner: %w", err)
		}
	}
	return checkPage(q.Search, q.Offset, q.Limit)
}

// DevicePage is one page of the devices a DeviceQuery matches.
type DevicePage struct {
	Devices []*Device
	// Total is how many devices the query matches, on every page.
	Total int
}

// PersonQuery selects a page of the registered persons, sorted by name.
type PersonQuery struct {
	// Search, if not empty, keeps the persons whose name holds it,
	// whatever its case.
	Search string
	// Offset is how many of the matching persons to skip.
	Offset int
	// Limit is the most persons the page holds: 1 to MaxPageSize.
	Limit int
}

// Validate checks q.
func (q *PersonQuery) Validate() error {
	return checkPage(q.Search, q.Offset, q.Limit)
}

// PersonPage is one page of the persons a PersonQuery matches.
type PersonPage struct {
	Persons []*Person
	// Total is how many persons the query matches, on every page.
	Total int
}

// checkPage checks what every paged listing takes.
func checkPage(search string, offset, limit int) error {
	if err := checkText("search", search, maxSearch, false); err != nil {
		return err
	}
	if offset < 0 {
		return fmt.Errorf("%w: offset %d is negative", ErrInvalid, offset)
	}
	if limit < 1 || limit > MaxPageSize {
		return fmt.Errorf("%w: limit %d: want 1 to %d", ErrInvalid, limit, MaxPageSize)
	}
	return nil
}
