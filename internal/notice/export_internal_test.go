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
