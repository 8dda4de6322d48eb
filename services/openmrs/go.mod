module github.com/dormant-dev/dormant/services/openmrs

go 1.26

replace github.com/dormant-dev/dormant/services/platform/testenv => ../platform/testenv
