// @cycjimmy/jsmpeg-player ships no types; the live view uses only its Player (components/live-view.tsx).
declare module '@cycjimmy/jsmpeg-player' {
  const JSMpeg: {
    Player: new (
      url: string,
      options: {
        canvas?: HTMLCanvasElement;
        audio?: boolean;
        autoplay?: boolean;
        disableWebAssembly?: boolean;
        disableGl?: boolean;
        videoBufferSize?: number;
        onVideoDecode?: () => void;
      },
    ) => { destroy(): void };
  };
  export default JSMpeg;
}
