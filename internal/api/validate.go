package api

import (
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Field limits of the request types.
const (
	maxNameRunes = 100
	maxNoteRunes = 10000
)

func validName(field, s string) *apiError {
	n := utf8.RuneCountInString(s)
	if strings.TrimSpace(s) == "" || n > maxNameRunes {
		return errorf(http.StatusBadRequest, CodeValidation, "%s is required and must be 1-%d characters", field, maxNameRunes)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return errorf(http.StatusBadRequest, CodeValidation, "%s may not contain control characters", field)
		}
	}
	return nil
}

// Validate checks a PatientInput; now bounds the birth date.
func (in PatientInput) Validate(now time.Time) error {
	if err := validName("givenName", in.GivenName); err != nil {
		return err
	}
	if err := validName("familyName", in.FamilyName); err != nil {
		return err
	}
	d, err := time.Parse("2006-01-02", in.BirthDate)
	if err != nil || len(in.BirthDate) != 10 {
		return errorf(http.StatusBadRequest, CodeValidation, "birthDate must be a date as YYYY-MM-DD")
	}
	if d.Year() < 1900 || d.After(now) {
		return errorf(http.StatusBadRequest, CodeValidation, "birthDate must be between 1900-01-01 and today")
	}
	return nil
}

// Validate checks a NoteInput.
func (in NoteInput) Validate() error {
	n := utf8.RuneCountInString(in.Text)
	if strings.TrimSpace(in.Text) == "" || n > maxNoteRunes {
		return errorf(http.StatusBadRequest, CodeValidation, "text is required and must be 1-%d characters", maxNoteRunes)
	}
	for _, r := range in.Text {
		if unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t' {
			return errorf(http.StatusBadRequest, CodeValidation, "text may not contain control characters other than newline and tab")
		}
	}
	return nil
}
