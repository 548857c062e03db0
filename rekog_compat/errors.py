"""AWS error types the server answers with.

Every layer below the HTTP app raises these; the protocol layer turns them into
`{"__type": ..., "Message": ...}` bodies with the matching HTTP status. Names and
statuses follow Rekognition's service model and its error-handling guide.
"""

from __future__ import annotations


class AwsError(Exception):
    """An error the client sees, with AWS's code, HTTP status and message."""

    code: str = "InternalServerError"
    status: int = 400
    default_message: str = ""

    def __init__(self, message: str | None = None) -> None:
        self.message = message if message is not None else self.default_message
        super().__init__(self.message)


class ValidationException(AwsError):
    code = "ValidationException"


class SerializationException(AwsError):
    code = "SerializationException"


class UnknownOperationException(AwsError):
    code = "UnknownOperationException"


class UnsupportedOperationException(AwsError):
    """An operation of the real API that this server does not implement (yet)."""

    code = "UnsupportedOperationException"


class InvalidParameterException(AwsError):
    code = "InvalidParameterException"
    default_message = "Request has invalid parameters."


class InvalidPaginationTokenException(AwsError):
    code = "InvalidPaginationTokenException"
    default_message = "Invalid Token"


class ResourceAlreadyExistsException(AwsError):
    code = "ResourceAlreadyExistsException"


class ResourceNotFoundException(AwsError):
    code = "ResourceNotFoundException"


class ServiceQuotaExceededException(AwsError):
    code = "ServiceQuotaExceededException"


class ConflictException(AwsError):
    code = "ConflictException"


class IdempotentParameterMismatchException(AwsError):
    code = "IdempotentParameterMismatchException"
    default_message = "ClientRequestToken was used with different parameters in an earlier request."


class AccessDeniedException(AwsError):
    code = "AccessDeniedException"


class ImageTooLargeException(AwsError):
    code = "ImageTooLargeException"
    default_message = "Image size is too large."


class InvalidImageFormatException(AwsError):
    code = "InvalidImageFormatException"
    default_message = "Request has invalid image format."


class InvalidS3ObjectException(AwsError):
    code = "InvalidS3ObjectException"
    default_message = "Unable to get object metadata from S3. Check object key, region and/or access permissions."


class VideoTooLargeException(AwsError):
    code = "VideoTooLargeException"
    default_message = "The file size or duration of the supplied media is too large. The maximum file size is 10GB."


class ResourceInUseException(AwsError):
    code = "ResourceInUseException"


class LimitExceededException(AwsError):
    code = "LimitExceededException"
    default_message = "An Amazon Rekognition service limit was exceeded."


class RequestTimeoutException(AwsError):
    """A request that stopped arriving (headers or body) for longer than the server's read timeout.

    S3 answers the same situation with 400 RequestTimeout; JSON services have no documented code for it.
    408 with RequestTimeoutException is what botocore's standard and adaptive retry modes treat as transient.
    """

    code = "RequestTimeoutException"
    status = 408
    default_message = (
        "Your socket connection to the server was not read from or written to within the timeout period. "
        "Idle connections will be closed."
    )


class ThrottlingException(AwsError):
    code = "ThrottlingException"
    status = 500
    default_message = "Service Unavailable"


class InternalServerError(AwsError):
    code = "InternalServerError"
    status = 500
    default_message = "Internal server error"


class MissingAuthenticationTokenException(AwsError):
    code = "MissingAuthenticationTokenException"
    status = 403
    default_message = "Missing Authentication Token"


class IncompleteSignatureException(AwsError):
    code = "IncompleteSignatureException"
    status = 400
    default_message = "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters."


class UnrecognizedClientException(AwsError):
    code = "UnrecognizedClientException"
    status = 403
    default_message = "The security token included in the request is invalid."


class InvalidSignatureException(AwsError):
    code = "InvalidSignatureException"
    status = 403
    default_message = (
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
        "Access Key and signing method. Consult the service documentation for details."
    )
