package io.grpc;

/*
 * A replacement for io.grpc.InternalStatus inside the Pub/Sub emulator's -all.jar (0.8.20, Cloud SDK 529), put ahead
 * of the jar on the classpath by scripts/services.
 *
 * The jar bundles a grpc-core whose ServerCallImpl, when a client cancels a call (a subscriber closes or dies), calls
 * InternalStatus.asRuntimeException(Status, Metadata, boolean), and a grpc-api whose InternalStatus lacks it. The
 * emulator then logs `NoSuchMethodError` from an executor thread, and the cancelled StreamingPull stream keeps
 * receiving deliveries, which are lost until their ack deadline passes again. Measured with a subscriber killed while
 * holding 60 messages (ack deadline 10 s), 14 runs: a new subscriber got them within 6.1-10.0 s in 5, after 16.6-27.1 s
 * in 6, and not within 45 s in 3. With this class: 8 of 8 within 5.8-9.2 s, and no NoSuchMethodError in the log.
 *
 * Same members as the jar's class, plus the missing method, written against grpc's public Status API.
 */
public final class InternalStatus {
  private InternalStatus() {}

  public static final Metadata.Key<String> MESSAGE_KEY = Status.MESSAGE_KEY;
  public static final Metadata.Key<Status> CODE_KEY = Status.CODE_KEY;

  public static StatusRuntimeException asRuntimeExceptionWithoutStacktrace(Status status, Metadata trailers) {
    return new InternalStatusRuntimeException(status, trailers);
  }

  public static StatusRuntimeException asRuntimeException(Status status, Metadata trailers, boolean withStackTrace) {
    return withStackTrace ? new StatusRuntimeException(status, trailers) : new InternalStatusRuntimeException(status, trailers);
  }
}
