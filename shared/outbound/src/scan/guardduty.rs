//! Amazon GuardDuty Malware Protection for S3: its verdict, as the tag it puts on the scanned object.
