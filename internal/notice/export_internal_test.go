package notice

// Exported for the black-box tests in notice_test.
var (
	ParseAcceptLanguage = parseAcceptLanguage
	Negotiate           = negotiate
	Languages           = func() []string { return tags }
)

// MissingStrings lists the keys of English that the language tag lacks.
func MissingStrings(tag string) []string {
	var missing []string
	for k := range catalogs[defaultLang].Strings {
		if _, ok := catalogs[tag].Strings[k]; !ok {
			missing = append(missing, k)
		}
	}
	return missing
}

// ReadAppeal is readAppeal, for the fuzz test.
var ReadAppeal = readAppeal

// FormErrorStatus returns the status of a readAppeal error, or 0.
func FormErrorStatus(err error) int {
	if fe, ok := err.(*formError); ok {
		return fe.status
	}
	return 0
}
